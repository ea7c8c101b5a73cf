"""DER registry: typed DER records, reactive capability, importers/exporters and groups.

* :mod:`.records`: the typed records (PV, generator, battery, EV charger, flexible load);
  :mod:`.capability`: their reactive capability (IEEE 1547-2018 categories);
* importing: :mod:`.net_import` (from a pandapower net), :mod:`.json_import` and
  :mod:`.csv_import` (files; layout in :mod:`.csv_format`), all through
  :mod:`.record_validation`; exporting: :mod:`.exporters`;
* :mod:`.registry`: records by id and named groups; :mod:`.inventory`: a feeder's DERs from its
  model plus DER files; :mod:`.setpoints`: whether a set-point is within a DER's capability;
* :mod:`.errors`: the errors of all of these.

Units follow pandapower: [MW], [MVAr], [MVA], [MWh], [kV], [pu], [%]; generation positive.
"""

from gridderms.ders.capability import (
    IEEE1547_TABLE7_PU,
    Ieee1547Category,
    ReactiveCapability,
    q_limits_mvar,
)
from gridderms.ders.csv_import import ders_from_csv
from gridderms.ders.errors import (
    CapabilityError,
    DerBusError,
    DerError,
    DerGroupError,
    DerImportError,
    DuplicateDerError,
    DuplicateGroupError,
    UnknownDerError,
    UnknownGroupError,
)
from gridderms.ders.exporters import der_to_json_dict, ders_to_csv, ders_to_json
from gridderms.ders.json_import import ders_from_json
from gridderms.ders.net_import import DEFAULT_STORAGE_EFFICIENCY, ders_from_net
from gridderms.ders.records import (
    DER_RECORD_CLASSES,
    DER_TYPES,
    BatteryStorage,
    DerRecord,
    DerRecordBase,
    DerStatus,
    DerType,
    DistributedGenerator,
    EvCharger,
    FlexibleLoad,
    PvSystem,
)
from gridderms.ders.registry import DerGroup, DerRegistry, GroupBy

__all__ = [
    "DEFAULT_STORAGE_EFFICIENCY",
    "DER_RECORD_CLASSES",
    "DER_TYPES",
    "IEEE1547_TABLE7_PU",
    "BatteryStorage",
    "CapabilityError",
    "DerBusError",
    "DerError",
    "DerGroup",
    "DerGroupError",
    "DerImportError",
    "DerRecord",
    "DerRecordBase",
    "DerRegistry",
    "DerStatus",
    "DerType",
    "DistributedGenerator",
    "DuplicateDerError",
    "DuplicateGroupError",
    "EvCharger",
    "FlexibleLoad",
    "GroupBy",
    "Ieee1547Category",
    "PvSystem",
    "ReactiveCapability",
    "UnknownDerError",
    "UnknownGroupError",
    "der_to_json_dict",
    "ders_from_csv",
    "ders_from_json",
    "ders_from_net",
    "ders_to_csv",
    "ders_to_json",
    "q_limits_mvar",
]
