"""Simulated DER devices: each an IEEE 1547 inverter or battery model
(:mod:`scada_bridge.der_device`) behind a DNP3 outstation that speaks the AN2018-001 / IEEE
1815.2 map, many in one process on consecutive ports.

A device takes, by select-before-operate or direct operate:

- AO88 (generation power limit [% of WMax]) and BO17 (its enable);
- AO210 (power factor, generation) and BO28 (its enable); BO10 (excitation: on = absorbing);
- AO203 (reactive power target [% of VArMax]) and BO27 (its enable);

and refuses the rest (``NOT_SUPPORTED``); a value the model refuses is ``OUT_OF_RANGE``; a
failed device answers ``HARDWARE_ERROR``. Every :meth:`SimulatedDer.step` advances the model
(ramp, state of charge) and publishes its P, Q, voltage, SoC and the commanded settings on the
read-back points, as events of class 1, sent unsolicited when the master enabled them.
:meth:`SimulatedDer.fail`, ``freeze`` and ``drop_link`` make it misbehave as field devices do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dnp3.core.enums import ControlCode
from dnp3.core.flags import AnalogQuality
from dnp3.outstation import Outstation, OutstationConfig
from dnp3.outstation.handler import CommandResult, DefaultCommandHandler

from scada_bridge.der_device import DerDevice, DeviceFaultError
from scada_bridge.device_points import device_database
from scada_bridge.endpoints import Endpoint
from scada_bridge.outstation_server import OutstationServer
from scada_bridge.point_map import PointMap, shipped_map

#: the device's DNP3 link address and the point map it speaks
DEVICE_ADDRESS, POINT_MAP = 10, "der_an2018_001"


class _Commands(DefaultCommandHandler):
    """The device's command handler: AN2018-001 controls applied to the model."""

    def __init__(self, sim: SimulatedDer) -> None:
        self.sim = sim

    def _apply(self, action: Callable[[], None] | None) -> CommandResult:
        if action is None:
            return CommandResult.not_supported("point not carried out by this device")
        try:
            action()
        except DeviceFaultError as exc:
            return CommandResult.hardware_error(str(exc))
        except ValueError as exc:
            return CommandResult.out_of_range(str(exc))
        self.sim.publish()
        return CommandResult.success()

    def _point(self, ref: str) -> tuple[str, float]:
        """The name of point ``ref`` and the factor of its raw value ("" when not mapped)."""
        try:
            point = self.sim.points.point(ref)
        except KeyError:
            return "", 0.0
        return point.name, point.to_ours(1.0)

    def _analog(self, index: int, raw: float) -> Callable[[], None] | None:
        sim = self.sim
        name, factor = self._point(f"AO{index}")
        value = raw * factor
        device = sim.device
        if name == "p_limit_generation_setpoint_percent":
            return lambda: device.set_power_limit(value, device.power_limit_enabled)
        if name == "pf_generation_setpoint":
            return lambda: device.set_power_factor(value, device.pf_enabled, device.pf_absorbing)
        if name == "q_target_setpoint_percent":
            q_mvar = value / 100.0 * device.rating.q_max_mvar
            return lambda: device.set_var(q_mvar, device.var_enabled)
        return None

    def _binary(self, index: int, on: bool) -> Callable[[], None] | None:
        name, _ = self._point(f"BO{index}")
        device = self.sim.device
        # the settings the device holds now (not its reports, which a frozen device holds)
        actions: dict[str, Callable[[], None]] = {
            "p_limit_enable": lambda: device.set_power_limit(device.power_limit_percent, on),
            "pf_enable": lambda: device.set_power_factor(device.pf, on, device.pf_absorbing),
            "pf_excitation_command": lambda: device.set_power_factor(
                device.pf, device.pf_enabled, on
            ),
            "q_target_enable": lambda: device.set_var(device.var_mvar, on),
        }
        return actions.get(name)

    def select_analog_output(self, index: int, value: float) -> CommandResult:
        return self._check(self._analog(index, value))

    def operate_analog_output(
        self, index: int, value: float, select_sequence: int
    ) -> CommandResult:
        return self._apply(self._analog(index, value))

    def direct_operate_analog_output(self, index: int, value: float) -> CommandResult:
        return self._apply(self._analog(index, value))

    def _check(self, action: Callable[[], None] | None) -> CommandResult:
        if action is None:
            return CommandResult.not_supported("point not carried out by this device")
        if self.sim.device.faulted:
            return CommandResult.hardware_error("device failed")
        return CommandResult.success()

    @staticmethod
    def _on(code: ControlCode) -> bool | None:
        if code.op_type == ControlCode.LATCH_ON.op_type:
            return True
        if code.op_type == ControlCode.LATCH_OFF.op_type:
            return False
        return None

    def select_binary_output(
        self, index: int, code: ControlCode, count: int, on_time: int, off_time: int
    ) -> CommandResult:
        on = self._on(code)
        return self._check(None if on is None else self._binary(index, on))

    def operate_binary_output(
        self,
        index: int,
        code: ControlCode,
        count: int,
        on_time: int,
        off_time: int,
        select_sequence: int,
    ) -> CommandResult:
        return self.direct_operate_binary_output(index, code, count, on_time, off_time)

    def direct_operate_binary_output(
        self, index: int, code: ControlCode, count: int, on_time: int, off_time: int
    ) -> CommandResult:
        on = self._on(code)
        return self._apply(None if on is None else self._binary(index, on))


class SimulatedDer:
    """One simulated device of DER ``der_id`` on ``host:port`` (0: a free port)."""

    def __init__(self, der_id: str, device: DerDevice, host: str = "127.0.0.1", port: int = 0):
        self.der_id = der_id
        self.device = device
        self.points: PointMap = shipped_map(POINT_MAP)
        config = OutstationConfig(address=DEVICE_ADDRESS, time_sync_required=False)
        database = device_database(self.points, self._values())
        self.outstation = Outstation(config=config, database=database)
        self.outstation.handler = _Commands(self)
        self.server = OutstationServer(self.outstation, host, port)

    def _values(self) -> dict[str, float | bool]:
        rating = self.device.rating
        m = self.device.measurements()
        values: dict[str, float | bool] = {
            "nameplate_p_w": rating.p_rated_mw,
            "max_p_w": rating.p_rated_mw,
            "nameplate_s_va": rating.s_rated_mva,
            "nameplate_q_inject_var": rating.q_max_mvar,
            "nameplate_q_absorb_var": rating.q_max_mvar,
            "reference_voltage_v": self.reference_kv,
            "p_w": float(m["p_mw"]),  # type: ignore[arg-type]
            "q_var": float(m["q_mvar"]),  # type: ignore[arg-type]
            "v_a_v": float(m["vm_pu"]) * self.reference_kv,  # type: ignore[arg-type]
            "p_limit_generation_percent": float(m["power_limit_percent"]),  # type: ignore[arg-type]
            "p_limit_enabled": bool(m["power_limit_enabled"]),
            "pf_generation": float(m["pf"]),  # type: ignore[arg-type]
            "pf_enabled": bool(m["pf_enabled"]),
            "q_target_enabled": bool(m["var_enabled"]),
            "comm_error": False,
            "connected_and_generating": float(m["p_mw"]) > 0,  # type: ignore[arg-type]
        }
        if m.get("soc_percent") is not None:
            values["soc_percent"] = float(m["soc_percent"])  # type: ignore[arg-type]
            values["nameplate_energy_wh"] = float(rating.e_rated_mwh or 0.0)
        return values

    #: the device's reference (nominal) voltage [kV]: low-voltage inverter terminals
    reference_kv = 0.24

    def publish(self) -> None:
        """Write the model's values to the outstation's points (events where they changed)."""
        database = self.outstation.database
        for name, value in self._values().items():
            point = self.points.named(name)
            if point.type == "AI":
                quality = AnalogQuality.ONLINE
                database.update_analog_input(
                    point.index, float(point.to_raw(float(value))), quality
                )
            elif point.type == "BI":
                database.update_binary_input(point.index, bool(value))
        self.server.notify()

    def step(self, dt_s: float) -> None:
        """Advance the model by ``dt_s`` [s] and publish."""
        self.device.step(dt_s)
        self.publish()

    def endpoint(self) -> Endpoint:
        """Where a master reaches this device."""
        return Endpoint(self.der_id, self.server.host, self.server.port, 1, DEVICE_ADDRESS)

    async def drop_link(self) -> None:
        """Take the device's link down (a failed radio)."""
        await self.server.drop_link()

    def restore_link(self) -> None:
        """Bring the link back."""
        self.server.restore_link()


@dataclass
class Fleet:
    """Many simulated devices in one process."""

    devices: Sequence[SimulatedDer]

    async def start(self) -> None:
        """Start every device's outstation."""
        for sim in self.devices:
            await sim.server.start()

    async def stop(self) -> None:
        """Stop every device's outstation."""
        for sim in self.devices:
            await sim.server.stop()

    def step(self, dt_s: float) -> None:
        """Advance every device by ``dt_s`` [s]."""
        for sim in self.devices:
            sim.step(dt_s)

    async def run(self, period_s: float, stop: asyncio.Event) -> None:
        """Step every ``period_s`` [s] until ``stop`` is set."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period_s)
            now = loop.time()
            self.step(now - last)
            last = now

    def endpoints(self) -> list[Endpoint]:
        """Every device's endpoint."""
        return [sim.endpoint() for sim in self.devices]


__all__ = ["DEVICE_ADDRESS", "POINT_MAP", "Fleet", "SimulatedDer"]
