"""``gridderms feeders`` (the built-in feeders) and ``gridderms inspect FEEDER`` (size,
topology, DERs, location)."""

from __future__ import annotations

import argparse
from collections import Counter

from gridderms.cli.inputs import feeder_from
from gridderms.cli.tables import format_pairs, format_table
from gridderms.ders import ders_from_net
from gridderms.output import print_json
from network_models.builtin import BUILTIN_FEEDERS
from network_models.feeder import Feeder
from network_models.location import FeederLocation


def cmd_feeders(args: argparse.Namespace) -> int:
    """List the built-in feeders with their sizes."""
    rows = []
    for name, builtin in BUILTIN_FEEDERS.items():
        feeder = feeder_from(name)
        counts = feeder.counts()
        steps = feeder.profiles.n_steps if feeder.profiles else 0
        rows.append(
            {"name": name, **counts, "profile_steps": steps, "description": builtin.description}
        )
    if args.json:
        print_json(rows)
        return 0
    headers = ["name", "buses", "lines", "trafos", "loads", "ders", "profile_steps", "description"]
    print(format_table(headers, [[row[h] for h in headers] for row in rows]))
    return 0


def describe_feeder(feeder: Feeder) -> dict[str, object]:
    """Size, voltage levels, topology and DER summary of ``feeder``."""
    net = feeder.net
    topology = feeder.topology()
    ders = ders_from_net(net)
    by_type = Counter(der.der_type for der in ders)
    levels = Counter(float(v) for v in net.bus.vn_kv)
    open_switches = net.switch.index[~net.switch.closed.astype(bool)]
    feeders = topology.feeders()
    return {
        "name": feeder.name,
        "source": feeder.source,
        **feeder.counts(),
        "voltage_levels_kv": {f"{kv:g}": n for kv, n in sorted(levels.items(), reverse=True)},
        "total_load_p_mw": float((net.load.p_mw * net.load.scaling)[net.load.in_service].sum()),
        "total_sgen_p_mw": float((net.sgen.p_mw * net.sgen.scaling)[net.sgen.in_service].sum()),
        "sources": list(topology.source_buses),
        "radial": topology.is_radial,
        "meshes": len(topology.meshes()),
        "islands": len(topology.islands),
        "deenergized_buses": sorted(topology.deenergized_buses),
        # largest first: the source buses' own levels are one-bus "feeders"
        "feeder_heads": {
            str(head): len(buses)
            for head, buses in sorted(feeders.items(), key=lambda item: (-len(item[1]), item[0]))
        },
        "open_switches": [int(s) for s in open_switches],
        "ders_by_type": dict(sorted(by_type.items())),
        "profile_steps": feeder.profiles.n_steps if feeder.profiles else 0,
        "profile_step_minutes": feeder.profiles.step_minutes if feeder.profiles else None,
        "location": feeder.location.to_dict(),
        "validation": "passed",
        "notes": list(feeder.notes),
    }


def _location_text(location: object) -> str:
    """A location dict in one line: place, altitude [m], time zone, source."""
    assert isinstance(location, dict)
    place = FeederLocation(**location)
    return f"{place.label()}, {place.altitude_m:g} m, {place.tz} ({place.source})"


def cmd_inspect(args: argparse.Namespace) -> int:
    """Describe one feeder."""
    info = describe_feeder(feeder_from(args.feeder, args))
    if args.json:
        print_json(info)
        return 0
    heads = info["feeder_heads"]
    assert isinstance(heads, dict)
    shown_heads = ", ".join(f"bus {h} ({n} buses)" for h, n in list(heads.items())[:8])
    if len(heads) > 8:
        shown_heads += f", ... ({len(heads)} feeders)"
    dead = info["deenergized_buses"]
    assert isinstance(dead, list)
    pairs: list[tuple[str, object]] = [
        ("feeder", info["name"]),
        ("source", info["source"]),
        ("buses / lines / trafos", f"{info['buses']} / {info['lines']} / {info['trafos']}"),
        ("switches (open)", f"{info['switches']} ({len(info['open_switches'])})"),  # type: ignore[arg-type]
        ("voltage levels [kV: buses]", _kv(info["voltage_levels_kv"])),
        ("loads", f"{info['loads']} ({info['total_load_p_mw']:.3f} MW)"),
        ("DERs", f"{info['ders']} ({info['total_sgen_p_mw']:.3f} MW static generation)"),
        (
            "DERs by type",
            ", ".join(f"{k} {v}" for k, v in info["ders_by_type"].items())  # type: ignore[attr-defined]
            or "none",
        ),
        ("sources (ext_grid buses)", _short(info["sources"])),
        (
            "topology",
            f"{'radial' if info['radial'] else 'meshed'}, {info['meshes']} meshes, "
            f"{info['islands']} islands",
        ),
        ("de-energized buses", _short(dead) if dead else "none"),
        ("feeder heads", shown_heads),
        (
            "profiles",
            f"{info['profile_steps']} steps of {info['profile_step_minutes']} min"
            if info["profile_steps"]
            else "none",
        ),
        ("location", _location_text(info["location"])),
        ("validation", info["validation"]),
    ]
    print(format_pairs(pairs))
    for note in info["notes"]:  # type: ignore[attr-defined]
        print(f"note: {note}")
    return 0


def _kv(levels: object) -> str:
    """Voltage levels as ``kV: buses, ...``."""
    assert isinstance(levels, dict)
    return ", ".join(f"{kv}: {n}" for kv, n in levels.items())


def _short(values: object, limit: int = 12) -> str:
    """The first ``limit`` of ``values``, and how many there are in all."""
    assert isinstance(values, list)
    text = ", ".join(str(v) for v in values[:limit])
    return text + (f", ... ({len(values)} in all)" if len(values) > limit else "")
