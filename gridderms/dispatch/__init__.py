"""Dispatch service: from the DER registry and forecasts to a verified schedule."""
