"""Pure forecasting functions that know the clock and the feeder's location.

:mod:`gridderms.forecast.solar` gives PV available power from pvlib (clear sky, optionally
scaled by cloud cover) for each system's tilt and azimuth; :mod:`gridderms.forecast.load` gives
SimBench's standard load profiles by local time of day, weekday type and season. The
dispatch's forecast of a horizon is built from them in :mod:`gridderms.dispatch.forecast`.

Forecasts on the real clock (issued as time passes, for the control loop) will live in this
package too.
"""
