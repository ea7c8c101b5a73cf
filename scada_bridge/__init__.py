"""The SCADA bridge: DER devices and the control centre over DNP3 (empty so far).

The top floor beside :mod:`api`: it may use :mod:`gridderms` and the floors below it, and
nothing below imports it. What will live here: the DNP3 master (polling DER devices, sending
them set-points) and outstation (serving the control centre), the point maps between DNP3
points and DER records, and a DER simulator to test against.
"""
