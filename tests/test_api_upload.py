"""Feeder uploads over real HTTP (uvicorn on a free loopback port), on SQLite and on a real
PostgreSQL server: the raw body and multipart/form-data, MATPOWER ``.m`` text and binary
``.mat`` files (format given or inferred from the file name), the same model and power flow
whichever way a case arrives, the ``.mat`` file stored base64-encoded and rebuilt after a
restart, and bad input (malformed ``.mat`` files, no or unknown format, too large) named in
the answer with nothing stored."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp
import pytest
import scipy.io
from pandapower.converter.matpower import to_mpc
from service_fixtures import BACKENDS, ApiServer, api_server, fresh_database
from sqlalchemy import select, update

from api.routes.feeder_upload import MAX_UPLOAD_BYTES, MULTIPART_OVERHEAD_BYTES
from gridderms.persistence.database import make_engine, session_factory
from gridderms.persistence.migrate import upgrade
from gridderms.persistence.models import ApiKeyRow, FeederFileRow, FeederRow
from gridderms.service.feeder_models import stored_file_bytes
from network_models.loaders import load_feeder

UPLOAD = "/feeders/upload"
#: Baran & Wu (1989) base case: total losses [MW] and minimum voltage [pu] (bus 18, index 17)
BARAN_WU_LOSSES_MW = 0.2027
BARAN_WU_MIN_VM_PU = 0.9131
#: MATPOWER columns written to the test cases (bus 13, gen 21, branch 13: version 2 format)
COLUMNS = {"bus": 13, "gen": 21, "branch": 13}
#: a PV generator added at MATPOWER bus 18 (a PQ bus, so pandapower makes it a static
#: generator and the service registers it as a DER) [MW]
PV_P_MW = 0.5


# -- test cases -----------------------------------------------------------------------------


def baran_wu_mpc() -> dict[str, Any]:
    """Baran-Wu 33-bus as a MATPOWER version 2 case (``pandapower.converter.to_mpc`` of the
    built-in, its five open tie lines left out like a MATPOWER case of the radial feeder),
    trimmed to MATPOWER's columns."""
    net = load_feeder("baran-wu-33").net
    net.line = net.line[net.line.in_service]
    mpc = to_mpc(net, init="flat")["mpc"]
    case: dict[str, Any] = {"version": "2", "baseMVA": float(mpc["baseMVA"])}
    for table, columns in COLUMNS.items():
        case[table] = np.atleast_2d(np.asarray(mpc[table], dtype=float))[:, :columns].copy()
    return case


def with_pv(case: dict[str, Any]) -> dict[str, Any]:
    """``case`` with a :data:`PV_P_MW` generator at MATPOWER bus 18."""
    row = case["gen"][0].copy()
    row[:10] = [18, PV_P_MW, 0.0, 0.2, -0.2, 1.0, 1.0, 1, PV_P_MW, 0.0]
    return {**case, "gen": np.vstack([case["gen"], row])}


def matpower_text(case: dict[str, Any], name: str = "case33bw") -> str:
    """``case`` as MATPOWER ``.m`` text (every number written exactly, ``repr`` of a float)."""
    lines = [f"function mpc = {name}", "mpc.version = '2';", f"mpc.baseMVA = {case['baseMVA']!r};"]
    for table in COLUMNS:
        lines.append(f"mpc.{table} = [")
        lines += ["\t" + "\t".join(repr(float(v)) for v in row) + ";" for row in case[table]]
        lines.append("];")
    return "\n".join(lines) + "\n"


def mat_bytes(variables: dict[str, Any]) -> bytes:
    """``variables`` as a MATLAB level 5 .mat file (``scipy.io.savemat``); a dict becomes a
    struct."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables)
    return buffer.getvalue()


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def case33() -> dict[str, Any]:
    """Baran-Wu as a MATPOWER case (see :func:`baran_wu_mpc`)."""
    return baran_wu_mpc()


# -- helpers --------------------------------------------------------------------------------


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _message(response: Any) -> str:
    """The message of a 422 answer (one error)."""
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    return str(error["msg"])


def _powerflow(server: ApiServer, feeder: str) -> dict[str, Any]:
    with server.client("viewer") as viewer:
        flow = viewer.post(f"/feeders/{feeder}/powerflow")
        assert flow.status_code == 200, flow.text
        body: dict[str, Any] = flow.json()
    assert body["converged"] is True
    return body


def _stored_file(database_url: str, feeder: str) -> FeederFileRow:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            row = session.scalars(
                select(FeederFileRow)
                .join(FeederRow, FeederRow.id == FeederFileRow.feeder_id)
                .where(FeederRow.name == feeder)
            ).one()
            session.expunge(row)
            return row
    finally:
        engine.dispose()


def _multipart_chunks(filename: str, size_bytes: int, boundary: str) -> Iterator[bytes]:
    """A multipart/form-data body with a file part of ``size_bytes`` zero bytes, in 1 MiB
    chunks (sent chunked: no Content-Length)."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    chunk = bytes(2**20)
    for start in range(0, size_bytes, len(chunk)):
        yield chunk[: min(len(chunk), size_bytes - start)]
    yield f"\r\n--{boundary}--\r\n".encode()


# -- tests ----------------------------------------------------------------------------------


def test_m_raw_body_multipart_m_and_multipart_mat_give_the_same_feeder(
    server: ApiServer, case33: dict[str, Any]
) -> None:
    text = matpower_text(case33)
    binary = mat_bytes({"mpc": case33})
    with server.client("admin") as admin:
        raw = _created(
            admin.post(
                UPLOAD,
                params={"name": "bw-m-raw", "format": "matpower"},
                content=text,
                headers={"Content-Type": "text/plain"},
            )
        )
        # no format: it follows the file name's extension
        form_m = _created(
            admin.post(UPLOAD, params={"name": "bw-m-form"}, files={"file": ("case33bw.m", text)})
        )
        form_mat = _created(
            admin.post(
                UPLOAD,
                params={"name": "bw-mat-form"},
                files={"file": ("case33bw.mat", binary, "application/octet-stream")},
            )
        )
        assert raw["source"].endswith(".m") and form_m["source"].endswith(".m")
        assert form_mat["source"].startswith("upload:") and form_mat["source"].endswith(".mat")
        assert raw["source"] == form_m["source"]  # the same bytes, the same stored file
        details = {
            f: admin.get(f"/feeders/{f}").json() for f in ("bw-m-raw", "bw-m-form", "bw-mat-form")
        }
    sizes = {
        f: (d["buses"], d["lines"], d["trafos"], d["loads"], d["ders"]) for f, d in details.items()
    }
    assert set(sizes.values()) == {(33, 32, 0, 32, 0)}, sizes
    flows = {f: _powerflow(server, f) for f in sizes}
    losses = {f: flow["losses_mw"] for f, flow in flows.items()}
    assert max(losses.values()) - min(losses.values()) <= 1e-9, losses
    for flow in flows.values():
        assert flow["losses_mw"] == pytest.approx(BARAN_WU_LOSSES_MW, abs=5e-4)
        assert flow["min_vm_pu"] == pytest.approx(BARAN_WU_MIN_VM_PU, abs=5e-4)
        assert flow["min_vm_bus"] == 17
        for key in ("losses_mvar", "min_vm_pu", "max_vm_pu", "load_p_mw"):
            assert flow[key] == pytest.approx(flows["bw-m-raw"][key], abs=1e-9), key
    # the .mat file is stored base64-encoded, byte for byte; the .m text as it is
    stored = _stored_file(server.database_url, "bw-mat-form")
    assert stored.format == "matpower-mat" and stored.filename == "bw-mat-form.mat"
    assert stored_file_bytes(stored) == binary and stored.content.isascii()
    stored_m = _stored_file(server.database_url, "bw-m-form")
    assert stored_m.format == "matpower" and stored_m.content == text
    with server.client("viewer") as viewer:
        audit = viewer.get("/audit", params={"action": "feeder.upload", "limit": 100}).json()
    formats = {row["target_id"]: row["after"]["format"] for row in audit}
    assert formats["bw-mat-form"] == "matpower-mat" and formats["bw-m-form"] == "matpower"


def test_mat_and_m_register_the_same_ders_and_format_overrides_the_extension(
    server: ApiServer, case33: dict[str, Any]
) -> None:
    case = with_pv(case33)
    with server.client("admin") as admin:
        # an explicit format wins over the file name (a .txt that is MATPOWER text)
        _created(
            admin.post(
                UPLOAD,
                params={"name": "pv-m", "format": "matpower"},
                files={"file": ("case33pv.txt", matpower_text(case))},
            )
        )
        _created(
            admin.post(
                UPLOAD,
                params={"name": "pv-mat", "format": "matpower-mat"},
                content=mat_bytes({"mpc": case}),
                headers={"Content-Type": "application/octet-stream"},
            )
        )
        ders = {f: admin.get(f"/feeders/{f}/ders").json() for f in ("pv-m", "pv-mat")}
    # pandapower makes the generator at a PQ bus a static generator: one DER at bus index 17
    for registered in ders.values():
        assert [(d["der_id"], d["bus"]) for d in registered] == [("sgen-0", 17)], registered
    assert ders["pv-m"][0]["der_type"] == ders["pv-mat"][0]["der_type"]
    assert [d["record"] for d in ders["pv-m"]] == [d["record"] for d in ders["pv-mat"]]
    flows = {f: _powerflow(server, f) for f in ders}
    assert flows["pv-m"]["losses_mw"] == pytest.approx(flows["pv-mat"]["losses_mw"], abs=1e-9)
    assert flows["pv-m"]["generation_p_mw"] == pytest.approx(PV_P_MW, abs=1e-9)
    # the generator relieves the feeder
    assert flows["pv-mat"]["losses_mw"] < BARAN_WU_LOSSES_MW - 0.01


def test_malformed_mat_files_are_422_naming_the_problem_and_store_nothing(
    server: ApiServer, case33: dict[str, Any]
) -> None:
    nan_bus = case33["bus"].copy()
    nan_bus[3, 2] = np.nan  # PD of MATPOWER bus 4: pandapower would drop that load silently
    cases = {
        "random bytes": (os.urandom(4096), "not a readable MATLAB .mat file"),
        "no mpc struct": (
            mat_bytes({"case": case33, "bus": case33["bus"]}),
            "no MATPOWER case struct named 'mpc' in the .mat file (its variables: bus, case)",
        ),
        "mpc not a struct": (
            mat_bytes({"mpc": case33["bus"]}),
            "'mpc' in the .mat file is a ndarray, not a struct",
        ),
        "no branch": (
            mat_bytes({"mpc": {k: v for k, v in case33.items() if k != "branch"}}),
            "the MATPOWER case has no branch",
        ),
        "NaN in bus data": (
            mat_bytes({"mpc": {**case33, "bus": nan_bus}}),
            "1 non-finite value(s) in the MATPOWER case: mpc.bus row 4 PD = nan",
        ),
        "empty file": (b"", "the uploaded matpower-mat file is empty"),
    }
    with server.client("admin") as admin:
        for label, (content, expected) in cases.items():
            response = admin.post(
                UPLOAD,
                params={"name": "broken-mat"},
                files={"file": ("case.mat", content, "application/octet-stream")},
            )
            message = _message(response)
            assert expected in message, (label, message)
            if content:
                assert "'broken-mat.mat'" in message, (label, message)  # not a temporary path
        # a .mat that fails the model checks after reading: an unrated line (RATE_A 0)
        unrated = case33["branch"].copy()
        unrated[4, 5] = 0.0
        invalid = admin.post(
            UPLOAD,
            params={"name": "broken-mat", "format": "matpower-mat"},
            content=mat_bytes({"mpc": {**case33, "branch": unrated}}),
        )
        message = _message(invalid)
        assert "failed validation" in message and "missing_thermal_rating" in message, message
        assert admin.get("/feeders/broken-mat").status_code == 404
    with server.client("viewer") as viewer:
        audit = viewer.get("/audit", params={"action": "feeder.upload", "limit": 100}).json()
    assert "broken-mat" not in {row["target_id"] for row in audit}


def test_format_inference_and_no_format_unknown_extension_or_bad_multipart_are_422(
    server: ApiServer, case33: dict[str, Any]
) -> None:
    text = matpower_text(case33)
    with server.client("admin") as admin:
        missing = admin.post(UPLOAD, params={"name": "nofmt"}, content=text)
        message = _message(missing)
        assert message.startswith("no format: give the format query parameter"), message
        assert missing.json()["detail"][0]["loc"] == ["query", "format"]
        unknown = admin.post(
            UPLOAD, params={"name": "nofmt"}, files={"file": ("case33bw.txt", text)}
        )
        message = _message(unknown)
        assert "cannot infer the format from the file name 'case33bw.txt'" in message, message
        assert "'.txt' is none of .json (pandapower-json), .m (matpower)" in message, message
        no_extension = admin.post(
            UPLOAD, params={"name": "nofmt"}, files={"file": ("case33bw", text)}
        )
        assert "extension '' is none of" in _message(no_extension)
        unknown_format = admin.post(
            UPLOAD, params={"name": "nofmt", "format": "cim"}, files={"file": ("a.m", text)}
        )
        assert unknown_format.status_code == 422
        wrong_part = admin.post(
            UPLOAD, params={"name": "nofmt"}, files={"feeder": ("case33bw.m", text)}
        )
        assert "no part named 'file'" in _message(wrong_part)
        field_not_file = admin.post(UPLOAD, params={"name": "nofmt"}, files={"file": (None, "mpc")})
        assert "plain form field, not a file" in _message(field_not_file)
        two_files = admin.post(
            UPLOAD,
            params={"name": "nofmt"},
            files=[("file", ("a.m", text)), ("file", ("b.m", text))],
        )
        assert "Too many files" in _message(two_files)
        no_boundary = admin.post(
            UPLOAD,
            params={"name": "nofmt"},
            content=text,
            headers={"Content-Type": "multipart/form-data"},
        )
        assert "malformed multipart/form-data body" in _message(no_boundary)
        # a Windows path as a browser may send it: the extension still counts
        windows = admin.post(
            UPLOAD,
            params={"name": "winpath"},
            files={"file": ("C:\\cases\\CASE33BW.M", text)},
        )
        assert _created(windows)["source"].endswith(".m")
        # pandapower JSON by its extension
        as_json = admin.post(
            UPLOAD,
            params={"name": "bw-json-form"},
            files={"file": ("baran-wu.json", pp.to_json(load_feeder("baran-wu-33").net))},
        )
        assert _created(as_json)["source"].endswith(".json")
        assert admin.get("/feeders/bw-json-form").json()["lines"] == 37
        assert admin.get("/feeders/nofmt").status_code == 404


def test_too_large_uploads_are_413_raw_and_multipart(server: ApiServer) -> None:
    too_large = MAX_UPLOAD_BYTES + 1
    boundary = "gridderms-test-boundary"
    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    with server.client("admin") as admin:
        # declared by Content-Length: refused before the body is read
        declared = admin.post(
            UPLOAD,
            params={"name": "huge"},
            files={"file": ("huge.mat", bytes(too_large), "application/octet-stream")},
        )
        assert declared.status_code == 413, declared.text
        assert f"at most {MAX_UPLOAD_BYTES} bytes" in declared.json()["detail"]
        # chunked (no Content-Length): refused while streaming in
        streamed = admin.post(
            UPLOAD,
            params={"name": "huge"},
            content=_multipart_chunks("huge.mat", too_large + MULTIPART_OVERHEAD_BYTES, boundary),
            headers=multipart,
        )
        assert streamed.status_code == 413, streamed.text
        raw = admin.post(
            UPLOAD,
            params={"name": "huge", "format": "matpower-mat"},
            content=iter([bytes(2**20)] * (MAX_UPLOAD_BYTES // 2**20 + 1)),
        )
        assert raw.status_code == 413, raw.text
        # a file just over the limit inside a body within the framing allowance
        framed = admin.post(
            UPLOAD,
            params={"name": "huge"},
            content=_multipart_chunks("huge.mat", too_large, boundary),
            headers=multipart,
        )
        assert framed.status_code == 413, framed.text
        assert admin.get("/feeders/huge").status_code == 404


@pytest.mark.parametrize("backend", BACKENDS)
def test_uploaded_mat_feeder_is_rebuilt_from_the_database_after_a_restart(
    backend: str, tmp_path: Path, case33: dict[str, Any]
) -> None:
    url = fresh_database(backend, tmp_path)
    upgrade(url)
    binary = mat_bytes({"mpc": case33})
    with api_server(url, tmp_path / "first.log") as first, first.client("admin") as admin:
        _created(
            admin.post(
                UPLOAD,
                params={"name": "bw-mat"},
                files={"file": ("case33bw.mat", binary, "application/octet-stream")},
            )
        )
        before = _powerflow(first, "bw-mat")
    # the restarted service gets new keys under the same names, and an empty feeder cache:
    # the model can only come from the stored file
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            session.execute(update(ApiKeyRow).values(name=ApiKeyRow.name + "-before-restart"))
            session.commit()
    finally:
        engine.dispose()
    cache = tmp_path / "empty-cache"
    with api_server(url, tmp_path / "second.log", GRIDDERMS_CACHE_DIR=str(cache)) as second:
        with second.client("viewer") as viewer:
            detail = viewer.get("/feeders/bw-mat").json()
        after = _powerflow(second, "bw-mat")
    assert (detail["buses"], detail["lines"]) == (33, 32)
    assert [p.suffix for p in (cache / "uploads").iterdir()] == [".mat"]
    assert after["losses_mw"] == pytest.approx(before["losses_mw"], abs=1e-12)
    assert after["losses_mw"] == pytest.approx(BARAN_WU_LOSSES_MW, abs=5e-4)


def test_no_traceback_in_the_server_logs(servers: dict[str, ApiServer]) -> None:
    for backend, server in servers.items():
        log = server.log.read_text()
        assert "Traceback" not in log, f"{backend}:\n{log[-4000:]}"
