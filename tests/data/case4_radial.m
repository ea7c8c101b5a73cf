function mpc = case4_radial
% A 4-bus 12.66 kV radial test feeder for the MATPOWER loader (gridderms tests).
mpc.version = '2';
mpc.baseMVA = 100;
%% bus data
%	bus_i	type	Pd	Qd	Gs	Bs	area	Vm	Va	baseKV	zone	Vmax	Vmin
mpc.bus = [
	1	3	0	0	0	0	1	1	0	12.66	1	1.05	0.95;
	2	1	1.0	0.5	0	0	1	1	0	12.66	1	1.05	0.95;
	3	1	0.8	0.3	0	0	1	1	0	12.66	1	1.05	0.95;
	4	1	0.5	0.2	0	0	1	1	0	12.66	1	1.05	0.95;
];
%% generator data
%	bus	Pg	Qg	Qmax	Qmin	Vg	mBase	status	Pmax	Pmin
mpc.gen = [
	1	0	0	10	-10	1	100	1	10	0;
];
%% branch data
%	fbus	tbus	r	x	b	rateA	rateB	rateC	ratio	angle	status	angmin	angmax
mpc.branch = [
	1	2	0.01	0.02	0	10	10	10	0	0	1	-360	360;
	2	3	0.01	0.02	0	10	10	10	0	0	1	-360	360;
	2	4	0.02	0.03	0	10	10	10	0	0	1	-360	360;
];
