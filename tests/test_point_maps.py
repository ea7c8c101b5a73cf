"""DNP3 point maps: the shipped maps load and agree with the AN2018-001 / IEEE 1815.2 reference
list; a broken map is refused whole with every problem named by file, row and field; values
scale between raw integers and gridderms's units."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from scada_bridge.point_map import (
    POINTS_DIR,
    PointMapError,
    load_point_map,
    shipped_map,
)

REPO = Path(__file__).resolve().parents[1]
#: the AN2018-001 / IEEE 1815.2 reference subset (52 points), a copy of the project's shared
#: reference (``../shared/reference/der_dnp3_point_map.csv``), kept here so CI has it
REFERENCE = REPO / "tests" / "data" / "der_dnp3_point_map_an2018_001.csv"
SHARED = REPO.parent / "shared" / "reference" / "der_dnp3_point_map.csv"
HEADER = "type,index,name,unit,multiplier,variation,paired,operate,meaning\n"
#: reference points the DER map leaves out: the curve-editing block, whose read-backs
#: (AI328..AI334) are not in the reference subset
NOT_MAPPED = {"AO244", "AO245", "AO246", "AO247", "AO248", "AO249", "AO250"}


def _reference() -> dict[str, dict[str, str]]:
    if SHARED.is_file():  # the copy is the shared list, to the byte
        assert REFERENCE.read_bytes() == SHARED.read_bytes(), f"{REFERENCE} differs from {SHARED}"
    with REFERENCE.open(encoding="utf-8") as handle:
        return {f"{r['type']}{r['index']}": r for r in csv.DictReader(handle)}


def _write(tmp_path: Path, rows: str, name: str = "map.csv") -> Path:
    path = tmp_path / name
    path.write_text(rows, encoding="utf-8")
    return path


def test_the_shipped_maps_load() -> None:
    der, adms = shipped_map("der_an2018_001"), shipped_map("adms_outstation")
    assert (len(der), len(adms)) == (46, 28)
    assert {p.stem for p in POINTS_DIR.glob("*.csv")} == {"der_an2018_001", "adms_outstation"}
    with pytest.raises(PointMapError, match=r"no shipped point map 'nope'.*adms_outstation"):
        shipped_map("nope")


def test_the_der_map_keeps_the_reference_scaling_and_pairs() -> None:
    reference = _reference()
    der = shipped_map("der_an2018_001")
    disagree = []
    for point in der.points:
        row = reference.get(point.ref)
        if row is None:
            continue
        if row["multiplier"] and float(row["multiplier"]) != point.multiplier:
            disagree.append(f"{point.ref} multiplier {point.multiplier} != {row['multiplier']}")
        if (row["paired_point"] or None) != point.paired:
            disagree.append(f"{point.ref} paired {point.paired} != {row['paired_point']}")
    assert not disagree, disagree
    unmapped = sorted(set(reference) - {p.ref for p in der.points} - NOT_MAPPED)
    assert not unmapped, f"reference points missing from the DER map: {unmapped}"
    mandatory = {ref for ref, row in reference.items() if row["mandatory_for_ieee1547"] == "True"}
    assert mandatory <= {p.ref for p in der.points}


def test_the_der_map_commands_are_operated_and_read_back_on_their_pair() -> None:
    der = shipped_map("der_an2018_001")
    for command in der.of_type("AO") + der.of_type("BO"):
        assert command.operate in ("sbo", "direct"), command.ref
        assert command.paired is not None, command.ref
        assert der.point(command.paired).paired == command.ref, command.ref
    # the IEEE 1547 power-limit command: AO88, enabled by BO17, read back on AI149 / BI69
    limit = der.named("p_limit_generation_setpoint_percent")
    assert (limit.ref, limit.paired) == ("AO88", "AI149")
    assert der.named("p_limit_enable").paired == "BI69"


def test_values_scale_between_raw_integers_and_our_units() -> None:
    der, adms = shipped_map("der_an2018_001"), shipped_map("adms_outstation")
    assert der.named("p_w").to_ours(1_250_000) == pytest.approx(1.25)  # W -> MW
    assert der.named("v_a_v").to_ours(2401) == pytest.approx(0.2401)  # 0.1 V -> kV
    assert der.named("soc_percent").to_ours(655) == pytest.approx(65.5)  # 0.1 %
    assert der.named("frequency_hz").to_ours(59_987) == pytest.approx(59.987)
    limit = der.named("p_limit_generation_setpoint_percent")
    assert limit.to_raw(62.37) == 624 and isinstance(limit.to_raw(62.37), int)  # rounded
    head = adms.named("feeder_head_p_mw")
    assert head.to_raw(-3.2104) == -3210 and head.to_ours(-3210) == pytest.approx(-3.21)


def test_a_float_variation_travels_the_value_itself(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + "AI,0,p_mw,MW,1,g30v5,,,head power as a float\n")
    point = load_point_map(path).named("p_mw")
    assert point.is_float and point.to_raw(1.2345) == pytest.approx(1.2345)


BROKEN = {
    "unknown type": ("XI,0,p,W,1,g30v1,,,", r"line 2: field 'type': 'XI' is not one of"),
    "negative index": ("AI,-1,p,W,1,g30v1,,,", r"line 2: field 'index': '-1' is not an integer"),
    "index too large": ("AI,70000,p,W,1,,,,", r"line 2: field 'index': '70000'"),
    "no unit": ("AI,0,p,,1,,,,", r"line 2: field 'unit' is required for an analog point"),
    "unknown unit": ("AI,0,p,furlong,1,,,,", r"line 2: field 'unit': 'furlong' is not one of"),
    "zero multiplier": ("AI,0,p,W,0,,,,", r"line 2: field 'multiplier': '0' is not a finite"),
    "nan multiplier": ("AI,0,p,W,nan,,,,", r"line 2: field 'multiplier': 'nan'"),
    "wrong variation": ("AI,0,p,W,1,g41v1,,,", r"line 2: field 'variation': 'g41v1' is not one of"),
    "float scaled": ("AI,0,p,W,0.1,g30v5,,,", r"line 2: field 'multiplier': a float variation"),
    "binary with unit": ("BI,0,b,W,,,,,", r"line 2: field 'unit': a binary point has none"),
    "command not operated": ("BO,0,b,,,,,,", r"line 2: field 'operate': 'None' must be 'sbo'"),
    "input operated": ("BI,0,b,,,,,sbo,", r"line 2: field 'operate': only command points"),
    "wrong pair type": ("BO,0,b,,,,AI0,sbo,", r"line 2: field 'paired': 'AI0' is not an BI point"),
    "dangling pair": (
        "BO,0,b,,,,BI7,direct,",
        r"line 2: field 'paired': BI7 is not a point of this",
    ),
    "no name": ("AI,0,,W,1,,,,", r"line 2: field 'name' is required"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_row_is_refused_naming_file_row_and_field(tmp_path: Path, case: str) -> None:
    row, message = BROKEN[case]
    path = _write(tmp_path, HEADER + row + "\n")
    with pytest.raises(PointMapError, match=message) as refused:
        load_point_map(path)
    assert str(path) in str(refused.value)


def test_every_problem_of_a_map_is_reported_at_once(tmp_path: Path) -> None:
    rows = "AI,0,p,W,1,,,,\nAI,0,q,var,1,,,,\nAI,1,p,W,1,,,,\nAO,0,c,W,1,,AI9,,\n"
    with pytest.raises(PointMapError) as refused:
        load_point_map(_write(tmp_path, HEADER + rows))
    text = str(refused.value)
    assert "line 3: field 'index': AI0 is already defined on line 2" in text
    assert "line 4: field 'name': 'p' is already carried on line 2" in text
    assert "line 5: field 'operate'" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("type,index,label\nAI,0,p\n", r"line 1 \(header\): unknown column\(s\) \['label'\]"),
        ("type,name\nAI,p\n", r"line 1 \(header\): missing column\(s\) \['index'\]"),
        (HEADER + "AI,0,p,W,1,,,,,extra\n", r"line 2: more cells than columns"),
        (HEADER, r"the point map has no points"),
    ],
)
def test_a_malformed_csv_is_refused_naming_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(PointMapError, match=message):
        load_point_map(_write(tmp_path, text))


def test_yaml_maps_load_and_name_the_entry(tmp_path: Path) -> None:
    good = "- {type: AI, index: 537, name: p_w, unit: W, multiplier: 1, variation: g30v1}\n"
    assert load_point_map(_write(tmp_path, good, "der.yaml")).named("p_w").ref == "AI537"
    bad = good + "- {type: AO, index: 88, name: limit, unit: '%WMax', multiplier: 0.1}\n"
    with pytest.raises(PointMapError, match=r"der.yml, entry 2: field 'operate'"):
        load_point_map(_write(tmp_path, bad, "der.yml"))
    with pytest.raises(PointMapError, match=r"entry 1: unknown field\(s\) \['scale'\]"):
        load_point_map(_write(tmp_path, "- {type: AI, index: 0, name: p, scale: 2}\n", "x.yaml"))
    with pytest.raises(PointMapError, match=r"a YAML point map is a list of points"):
        load_point_map(_write(tmp_path, "type: AI\n", "y.yaml"))
    with pytest.raises(PointMapError, match=r"a point map is a .csv, .yaml or .yml file"):
        load_point_map(_write(tmp_path, good, "map.txt"))


def test_the_map_checker_command_prints_counts_or_the_problems(tmp_path: Path) -> None:
    shipped = sorted(str(p) for p in POINTS_DIR.glob("*.csv"))
    done = subprocess.run(
        [sys.executable, "-m", "scada_bridge.point_map", *shipped],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "der_an2018_001.csv: 46 points (23 AI, 7 AO, 9 BI, 7 BO)" in done.stdout
    broken = _write(tmp_path, HEADER + "AI,0,p,W,0,,,,\n")
    done = subprocess.run(
        [sys.executable, "-m", "scada_bridge.point_map", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "line 2: field 'multiplier'" in done.stderr
