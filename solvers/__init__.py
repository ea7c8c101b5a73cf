"""Power-flow checks and (later) OPF formulations on pandapower feeder models."""
