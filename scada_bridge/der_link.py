"""One DER device over DNP3, seen from gridderms as the master: what a poll read becomes as a
telemetry measurement, and a power-limit set-point written and confirmed by read-back.

A poll's readings (:func:`scada_bridge.device_points.readings`) become one measurement in the
columns of :mod:`gridderms.service.telemetry` (``p_mw`` [MW], ``q_mvar`` [MVAr], ``vm_pu``
[pu]: the phase-A voltage over the device's reference voltage, ``soc_percent`` [%]) with a
quality: ``good`` when P and Q are flagged ONLINE, ``suspect`` when one is not (a
device restarting or a point it never set), ``bad`` when the device reports a communication
error. A device that does not answer gives no measurement: the caller marks it comm-lost.

A set-point travels as the AN2018-001 / IEEE 1815.2 power limit: the limit [% of WMax] to the
analog output, the enable bit latched on, each by select-before-operate or direct operate as
the map's ``operate`` column says. It is confirmed only when the paired read-back points
report it: the limit within the point's resolution and the enable status on. dnp3py's master
does not hand back the echoed command status, so the device's answer is its IIN flags
(``PARAMETER_ERROR``, ``NO_FUNC_CODE_SUPPORT`` ...) and what it reads back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from dnp3.core.enums import ControlCode
from dnp3.core.flags import IIN
from dnp3.master.handler import DefaultSOEHandler, ResponseInfo
from dnp3.master.master import Master
from dnp3.master.tcp_runner import MasterTcpRunner

from scada_bridge.device_points import Reading, readings
from scada_bridge.point_map import Point, PointMap

#: IIN bits that mean the device refused a request
REFUSED = (
    IIN.NO_FUNC_CODE_SUPPORT,
    IIN.OBJECT_UNKNOWN,
    IIN.PARAMETER_ERROR,
    IIN.ALREADY_EXECUTING,
    IIN.LOCAL_CONTROL,
)
#: the points a measurement needs ONLINE to be ``good`` (voltage and state of charge are
#: taken when ONLINE and left out otherwise: a PV inverter serves no state of charge)
MEASURED = ("p_w", "q_var")


def measurement(
    received: dict[str, Reading], der_id: str, measured_at: datetime
) -> dict[str, object]:
    """The telemetry measurement of DER ``der_id`` from one poll's ``received`` readings.

    Parameters
    ----------
    received : dict
        Readings by point name, in gridderms's units.
    der_id : str
        The DER the device is.
    measured_at : datetime
        Timezone-aware time of the poll (or the device's event time stamp).
    """
    used = [received.get(name) for name in MEASURED]

    def value(name: str) -> float | None:
        reading = received.get(name)
        return float(reading.value) if reading is not None and reading.online else None

    v_kv, reference_kv = value("v_a_v"), value("reference_voltage_v")
    vm_pu = v_kv / reference_kv if v_kv is not None and reference_kv else None
    comm_error = received.get("comm_error")
    if comm_error is not None and comm_error.online and comm_error.value:
        quality = "bad"
    elif all(r is not None and r.online for r in used):
        quality = "good"
    else:
        quality = "suspect"
    return {
        "der_id": der_id,
        "measured_at": measured_at,
        "p_mw": value("p_w"),
        "q_mvar": value("q_var"),
        "vm_pu": vm_pu,
        "soc_percent": value("soc_percent"),
        "quality": quality,
    }


@dataclass(frozen=True)
class Confirmation:
    """What became of a set-point: ``acknowledged`` (read back as commanded) or not, with
    the device's answer in words."""

    acknowledged: bool
    answer: str


def refusal(infos: list[ResponseInfo]) -> str | None:
    """The IIN refusal bits of a response, in words, or None when none is set."""
    for info in infos:
        bits = [flag.name for flag in REFUSED if info.iin & flag]
        if bits:
            return "device answered with IIN " + ", ".join(str(b) for b in bits)
    return None


async def operate(
    runner: MasterTcpRunner, master: Master, point: Point, value: float | bool
) -> str | None:
    """Write ``value`` (raw units for an analog output, on/off for a binary output) to
    ``point`` by select-before-operate or direct operate, as the map says; return the
    device's refusal in words, or None."""
    builder = master.command_builder()
    if point.type == "AO":
        builder.add_analog(point.index, float(value))
    else:
        builder.add_crob(point.index, ControlCode.LATCH_ON if value else ControlCode.LATCH_OFF)
    if point.operate == "sbo":
        refused = refusal(await runner.request(master.build_select(builder.build_select())))
        if refused is not None:
            return f"SELECT of {point.type}{point.index} ({point.name}): {refused}"
        infos = await runner.request(master.build_operate(builder.build_operate()))
        verb = "OPERATE"
    else:
        infos = await runner.request(master.build_direct_operate(builder.build_direct_operate()))
        verb = "DIRECT OPERATE"
    refused = refusal(infos)
    return (
        None
        if refused is None
        else f"{verb} of {point.type}{point.index} ({point.name}): {refused}"
    )


async def write_power_limit(
    runner: MasterTcpRunner,
    master: Master,
    handler: DefaultSOEHandler,
    points: PointMap,
    limit_percent: float,
) -> Confirmation:
    """Write the active-power limit ``limit_percent`` [% of WMax], enable it, and confirm by
    reading back its paired points with an integrity poll.

    Raises
    ------
    ValueError
        A limit outside [0, 100] % or not finite.
    """
    if not math.isfinite(limit_percent) or not 0.0 <= limit_percent <= 100.0:
        raise ValueError(f"power limit {limit_percent!r} % is outside [0, 100] % of WMax")
    setpoint = points.named("p_limit_generation_setpoint_percent")
    enable = points.named("p_limit_enable")
    for point, value in ((setpoint, setpoint.to_raw(limit_percent)), (enable, True)):
        refused = await operate(runner, master, point, value)
        if refused is not None:
            return Confirmation(False, refused)
    await runner.integrity_poll()
    got = readings(points, handler)
    read_back = got.get("p_limit_generation_percent")
    enabled = got.get("p_limit_enabled")
    resolution = abs(setpoint.to_ours(1.0) - setpoint.to_ours(0.0))
    if read_back is None or enabled is None:
        return Confirmation(False, "the device serves no power-limit read-back points")
    if abs(float(read_back.value) - limit_percent) > resolution / 2 + 1e-9:
        return Confirmation(
            False,
            f"read back {float(read_back.value):g} % at AI{read_back.point.index}, "
            f"commanded {limit_percent:g} %",
        )
    if not enabled.value:
        return Confirmation(False, f"power limit not enabled: BI{enabled.point.index} is off")
    return Confirmation(True, f"read back {float(read_back.value):g} %, enabled")


__all__ = ["Confirmation", "measurement", "operate", "refusal", "write_power_limit"]
