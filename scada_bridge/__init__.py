"""The SCADA bridge: DER devices and the control centre over DNP3.

The top floor beside :mod:`api`: it may use :mod:`gridderms` and the floors below it, and
nothing below imports it. Here now: :mod:`.point_map`, the DNP3 point maps as configuration
(the shipped ones in ``points/``: a DER device's AN2018-001 / IEEE 1815.2 points and the
outstation map the ADMS reads and commands), and :mod:`.device_points`, a map's points as a
dnp3py outstation database and a master's poll read back in gridderms's units.

Coming (issue 13): the DNP3 master (polling DER devices, sending them set-points), the
outstation serving the control centre, and a DER simulator to test against.
"""
