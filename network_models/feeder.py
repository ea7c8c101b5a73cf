"""A loaded feeder: the pandapower net, its profiles, its topology and cached model data.

Switching goes through :meth:`Feeder.open_switch` / :meth:`Feeder.close_switch`, which follow the
ADMS's switching: they change the switch, bump :attr:`Feeder.version`, drop every cached model
(topology, power-flow matrices) and return the new topology. :meth:`Feeder.apply_switching`
brings the switches to states and a version owned elsewhere (the service's database row).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandapower as pp

from network_models.location import DEFAULT_LOCATION, FeederLocation
from network_models.model_cache import ModelCache
from network_models.profiles import FeederProfiles
from network_models.switching import set_switch_state
from network_models.topology import FeederTopology, build_topology

#: element tables counted as DERs in summaries
DER_TABLES = ("sgen", "storage")


@dataclass
class Feeder:
    """A feeder model loaded into pandapower.

    Attributes
    ----------
    name : str
        Built-in name or file stem.
    source : str
        Where the model came from (``builtin:NAME``, ``simbench:CODE`` or a file path).
    net : pandapowerNet
        The model; mutate it only through this class so caches stay valid.
    profiles : FeederProfiles or None
        Load/generation profiles, when the source has them.
    notes : tuple of str
        Every change gridderms made to the source model (e.g. assigned ratings), and what it
        assumed where the model is silent (a default location).
    location : FeederLocation
        Where the feeder is and its time zone (see :mod:`network_models.location`).
    version : int
        Incremented at every topology change.
    """

    name: str
    source: str
    net: pp.pandapowerNet
    profiles: FeederProfiles | None = None
    notes: tuple[str, ...] = ()
    location: FeederLocation = DEFAULT_LOCATION
    version: int = 0
    _topology: FeederTopology | None = field(default=None, repr=False)
    model_cache: ModelCache = field(default_factory=ModelCache, repr=False)

    def topology(self) -> FeederTopology:
        """The in-service topology honouring the current switch states (cached)."""
        if self._topology is None:
            self._topology = build_topology(self.net)
        return self._topology

    def invalidate(self) -> None:
        """Drop cached topology and model data after any change to the net."""
        self.version += 1
        self._topology = None
        self.model_cache.clear()

    def open_switch(self, switch_id: int) -> FeederTopology:
        """Open switch ``switch_id`` and return the updated topology."""
        return self._switch(switch_id, closed=False)

    def close_switch(self, switch_id: int) -> FeederTopology:
        """Close switch ``switch_id`` and return the updated topology."""
        return self._switch(switch_id, closed=True)

    def _switch(self, switch_id: int, *, closed: bool) -> FeederTopology:
        set_switch_state(self.net, switch_id, closed)
        self.invalidate()
        return self.topology()

    def apply_switching(self, states: Mapping[str, bool], version: int) -> None:
        """Bring the switches to ``states`` (switch id as a string -> closed; switches not
        named keep their state) at topology ``version``, as stored elsewhere (the service's
        database row owns them): every switch that differs is set, every cached model is
        dropped and :attr:`version` becomes ``version``."""
        current = {int(i): bool(c) for i, c in self.net.switch.closed.items()}
        for switch, state in states.items():
            if current.get(int(switch)) != state:
                set_switch_state(self.net, int(switch), bool(state))
        self.invalidate()
        self.version = version

    def counts(self) -> dict[str, int]:
        """Numbers of buses, lines, transformers, switches, loads and DERs."""
        net = self.net
        return {
            "buses": len(net.bus),
            "lines": len(net.line),
            "trafos": len(net.trafo) + len(net.trafo3w),
            "switches": len(net.switch),
            "loads": len(net.load),
            "ders": sum(len(net[table]) for table in DER_TABLES),
        }
