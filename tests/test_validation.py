"""One test per malformed-input class: the error names the check, the element, its id and the
problem, and the CLI shows it without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from gridderms.cli import main
from network_models.errors import FeederFileError, FeederValidationError
from network_models.loaders import load_feeder
from network_models.validation import find_issues, validate_net

DATA = Path(__file__).parent / "data"


@pytest.fixture
def cigre(cache_dir) -> pp.pandapowerNet:
    return load_feeder("cigre-mv-der", cache_dir=cache_dir).net


def _only_issue(net: pp.pandapowerNet) -> str:
    with pytest.raises(FeederValidationError) as info:
        validate_net(net, "test-feeder")
    assert len(info.value.issues) == 1, info.value.issues
    return str(info.value.issues[0])


def test_valid_builtin_has_no_issues(cigre) -> None:
    assert find_issues(cigre) == []


def test_unknown_bus_reference(cigre) -> None:
    cigre.line.at[3, "to_bus"] = 999
    assert _only_issue(cigre) == (
        "[unknown_bus_reference] line 3: to_bus refers to bus 999, which does not exist"
    )


def test_switch_referring_to_a_missing_line(cigre) -> None:
    cigre.switch.at[0, "element"] = 77
    assert "[unknown_element_reference] switch 0: element refers to line 77" in _only_issue(cigre)


def test_islanded_bus_with_load(cigre) -> None:
    bus = pp.create_bus(cigre, vn_kv=20.0, name="orphan")
    pp.create_load(cigre, bus, p_mw=0.2, name="orphan load")
    message = _only_issue(cigre)
    assert message.startswith(f"[islanded_bus] bus {bus}: not connected to any external grid")
    assert "orphan load" in message and "p_mw=0.2" in message


def test_missing_thermal_rating(cigre) -> None:
    cigre.line.at[2, "max_i_ka"] = 0.0
    assert _only_issue(cigre) == (
        "[missing_thermal_rating] line 2: no thermal rating: max_i_ka=0.0; it must be a "
        "positive current [kA]"
    )


def test_matpower_unrated_placeholder_is_a_missing_rating(tmp_path) -> None:
    text = (DATA / "case4_radial.m").read_text()
    unrated = text.replace("0	10	10	10	0	0	1", "0	0	0	0	0	0	1")
    assert unrated != text
    path = tmp_path / "unrated.m"
    path.write_text(unrated)
    with pytest.raises(FeederValidationError) as info:
        load_feeder(path)
    assert [i.check for i in info.value.issues] == ["missing_thermal_rating"] * 3
    assert "placeholder for RATE_A = 0" in str(info.value)


def test_missing_voltage_limits(cigre) -> None:
    cigre.bus["min_vm_pu"] = 0.9
    cigre.bus["max_vm_pu"] = 1.1
    cigre.bus.at[4, "min_vm_pu"] = np.nan
    assert _only_issue(cigre).startswith(
        "[missing_voltage_limits] bus 4: voltage limits missing or inverted: min_vm_pu=nan"
    )


def test_missing_nominal_voltage(cigre) -> None:
    cigre.bus.at[5, "vn_kv"] = 0.0
    issues = find_issues(cigre)
    assert [str(issue) for issue in issues] == [
        "[missing_voltage_limits] bus 5: no nominal voltage: vn_kv=0.0; it must be a positive "
        "voltage [kV]"
    ]


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("r_ohm_per_km", -0.1, "r_ohm_per_km=-0.1"),
        ("length_km", 0.0, "length_km=0.0"),
    ],
)
def test_negative_or_zero_impedance(cigre, column, value, expected) -> None:
    cigre.line.at[1, column] = value
    message = _only_issue(cigre)
    assert message.startswith("[non_positive_impedance] line 1: impedance must be positive")
    assert expected in message


def test_zero_line_impedance(cigre) -> None:
    cigre.line.loc[1, ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    assert "[non_positive_impedance] line 1" in _only_issue(cigre)


def test_transformer_short_circuit_voltage(cigre) -> None:
    cigre.trafo.at[0, "vk_percent"] = 0.0
    assert _only_issue(cigre).startswith("[non_positive_impedance] trafo 0")


def test_non_finite_values(cigre) -> None:
    cigre.load.at[2, "p_mw"] = np.nan
    cigre.sgen.at[1, "q_mvar"] = np.inf
    with pytest.raises(FeederValidationError) as info:
        validate_net(cigre, "test-feeder")
    messages = {str(i) for i in info.value.issues}
    assert messages == {
        "[non_finite_value] load 2: p_mw = nan is not a finite number",
        "[non_finite_value] sgen 1: q_mvar = inf is not a finite number",
    }


def test_duplicate_ids_in_a_json_file(tmp_path, cigre) -> None:
    cigre.load = pd.concat([cigre.load, cigre.load.iloc[[0]]])
    path = tmp_path / "dup.json"
    pp.to_json(cigre, str(path))
    with pytest.raises(FeederValidationError) as info:
        load_feeder(path)
    assert str(info.value.issues[0]) == "[duplicate_id] load 0: id 0 occurs 2 times"


def test_no_source(cigre) -> None:
    cigre.ext_grid["in_service"] = False
    assert _only_issue(cigre).startswith("[no_source] ext_grid -: the feeder has no in-service")


def test_all_problems_are_reported_at_once(cigre) -> None:
    cigre.line.at[2, "max_i_ka"] = -1.0
    cigre.line.at[4, "x_ohm_per_km"] = -1.0
    cigre.trafo.at[1, "sn_mva"] = 0.0
    with pytest.raises(FeederValidationError) as info:
        validate_net(cigre, "three-problems")
    assert len(info.value.issues) == 3
    assert str(info.value).startswith("feeder 'three-problems' failed validation (3 problems):")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("broken.json", '{"_module": "pandapower.auxiliary", ', "not valid JSON"),
        ("other.json", '{"hello": "world"}', "valid JSON but not a pandapower network"),
        ("feeder.xlsx", "binary", "unsupported extension '.xlsx'"),
        ("truncated.m", "function mpc = x\nmpc.bus = [\n1 3 0", "cannot read feeder file"),
    ],
)
def test_unreadable_files(tmp_path, name, content, expected) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FeederFileError, match=expected) as info:
        load_feeder(path)
    assert str(path) in str(info.value)


def test_directory_is_not_a_feeder_file(tmp_path) -> None:
    folder = tmp_path / "feeder.json"
    folder.mkdir()
    with pytest.raises(FeederFileError, match="is a directory"):
        load_feeder(folder)


def test_cli_reports_validation_errors_without_traceback(tmp_path, cigre, capsys) -> None:
    cigre.line.at[3, "to_bus"] = 999
    path = tmp_path / "bad.json"
    pp.to_json(cigre, str(path))
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error: feeder" in err and "line 3: to_bus refers to bus 999" in err
    assert "Traceback" not in err


def test_cli_reports_unreadable_json(tmp_path, capsys) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([1, 2, 3])[:-1])
    assert main(["powerflow", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
