"""A DER device for the bridge's tests: a dnp3py outstation on our server whose command
handler takes the AN2018-001 power-limit commands and reports them on their read-back
points, or refuses them (a device in local control)."""

from __future__ import annotations

from dnp3.core.enums import ControlCode
from dnp3.outstation import Outstation, OutstationConfig
from dnp3.outstation.handler import CommandResult, DefaultCommandHandler

from scada_bridge.device_points import device_database
from scada_bridge.outstation_server import OutstationServer
from scada_bridge.point_map import shipped_map

DER = shipped_map("der_an2018_001")
#: AO and BO indices of the power limit and its enable bit
LIMIT_AO, ENABLE_BO = DER.named("p_limit_generation_setpoint_percent").index, 17


class PowerLimitDevice(DefaultCommandHandler):
    """Takes the power limit (select, operate, direct operate) unless ``refusing``."""

    def __init__(self, outstation: Outstation, refusing: bool = False) -> None:
        self.outstation = outstation
        self.refusing = refusing
        self.operated: list[str] = []
        self.selected: list[str] = []

    def _result(self, ok: bool) -> CommandResult:
        if self.refusing:
            return CommandResult.local("in local control")
        return CommandResult.success() if ok else CommandResult.not_supported()

    def select_analog_output(self, index: int, value: float) -> CommandResult:
        self.selected.append(f"AO{index}")
        return self._result(index == LIMIT_AO)

    def operate_analog_output(
        self, index: int, value: float, select_sequence: int
    ) -> CommandResult:
        return self.direct_operate_analog_output(index, value)

    def direct_operate_analog_output(self, index: int, value: float) -> CommandResult:
        result = self._result(index == LIMIT_AO)
        if result.is_success:
            self.operated.append(f"AO{index}={value:g}")
            read_back = DER.named("p_limit_generation_percent").index
            self.outstation.database.update_analog_input(read_back, value)
        return result

    def select_binary_output(
        self, index: int, code: ControlCode, count: int, on_time: int, off_time: int
    ) -> CommandResult:
        self.selected.append(f"BO{index}")
        return self._result(index == ENABLE_BO)

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
        result = self._result(index == ENABLE_BO)
        if result.is_success:
            on = code.op_type == ControlCode.LATCH_ON.op_type
            self.operated.append(f"BO{index}={'on' if on else 'off'}")
            self.outstation.database.update_binary_input(DER.named("p_limit_enabled").index, on)
        return result


def device_server(
    values: dict[str, float | bool], refusing: bool = False, handling: bool = True
) -> tuple[OutstationServer, PowerLimitDevice]:
    """An (unstarted) server of a device reporting ``values`` (our units, by point name);
    with ``handling`` False the outstation keeps dnp3py's default handler (every control
    NOT_SUPPORTED)."""
    config = OutstationConfig(address=10, time_sync_required=False)
    outstation = Outstation(config=config, database=device_database(DER, values))
    device = PowerLimitDevice(outstation, refusing)
    if handling:
        outstation.handler = device
    return OutstationServer(outstation), device
