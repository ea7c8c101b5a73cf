"""``gridderms ders FEEDER``: a feeder's DERs (the model's and DER files') and their groups."""

from __future__ import annotations

import argparse

from gridderms.cli.inputs import feeder_from
from gridderms.cli.tables import format_table
from gridderms.ders.inventory import (
    create_default_groups,
    feeder_inventory,
    feeder_names,
    rated_p_mw,
)
from gridderms.output import print_json


def cmd_ders(args: argparse.Namespace) -> int:
    """List a feeder's DERs (model plus DER files) and their groups."""
    feeder = feeder_from(args.feeder)
    registry = feeder_inventory(feeder, args.der_file)
    bus_to_feeder = feeder_names(feeder)
    create_default_groups(registry, args.group_by, bus_to_feeder)
    ders = [
        {
            "der_id": der.der_id,
            "der_type": der.der_type,
            "bus": der.bus,
            "feeder": bus_to_feeder.get(der.bus, "de-energized"),
            "status": der.status,
            "p_rated_mw": rated_p_mw(der),
            "s_rated_mva": der.reactive.s_rated_mva,
            "q_inject_max_mvar": der.reactive.q_inject_max_mvar,
            "q_absorb_max_mvar": der.reactive.q_absorb_max_mvar,
            "name": der.name,
        }
        for der in registry
    ]
    groups = [
        {
            "name": group.name,
            "by": group.by,
            "members": len(group.member_ids),
            "p_rated_mw": sum(rated_p_mw(registry.get(i)) for i in group.member_ids),
        }
        for group in registry.list_groups()
    ]
    if args.json:
        print_json({"feeder": feeder.name, "ders": ders, "groups": groups})
        return 0
    if ders:
        columns = [
            "der_id",
            "der_type",
            "bus",
            "feeder",
            "status",
            "p_rated_mw",
            "s_rated_mva",
            "q_inject_max_mvar",
            "q_absorb_max_mvar",
        ]
        print(format_table(columns, [[d[c] for c in columns] for d in ders]))
    print(f"\n{len(ders)} DERs on {feeder.name}; groups by {args.group_by}:")
    print(
        format_table(
            ["group", "members", "p_rated_mw"],
            [[g["name"], g["members"], g["p_rated_mw"]] for g in groups],
        )
    )
    return 0
