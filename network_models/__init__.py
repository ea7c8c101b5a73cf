"""Feeder models: loading, validation and topology of distribution feeders (pandapower nets)."""
