"""Our outstation server over real TCP and TLS on 127.0.0.1, with a dnp3py master: integrity
polls, the unsolicited responses dnp3py's own runner never sends, DNP3 over TLS with mutual
certificates (IEC 62351-3 style), a link taken down and up, and garbage that closes one
connection without stopping the server."""

from __future__ import annotations

import asyncio
import random
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from dnp3.master.config import MasterConfig
from dnp3.master.handler import DefaultSOEHandler
from dnp3.master.master import Master
from dnp3.master.tcp_runner import MasterTcpRunner
from dnp3.outstation import Outstation, OutstationConfig
from dnp3.transport_io.tcp_client import TcpConfig

from scada_bridge.device_points import device_database, readings
from scada_bridge.outstation_server import OutstationServer
from scada_bridge.point_map import shipped_map
from scada_bridge.tls import TlsClientChannel, TlsConfigError, client_context, server_context

DER = shipped_map("der_an2018_001")
VALUES: dict[str, float | bool] = {"p_w": 0.4321, "v_a_v": 0.24017, "soc_percent": 65.5}
#: the resolution P travels in [MW] (the map's multiplier: 1 W)
P_RESOLUTION_MW = 1e-6
#: how long [s] a test waits for an unsolicited response
UNSOLICITED_WAIT_S = 3.0


@asynccontextmanager
async def _serving(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[OutstationServer]:
    config = OutstationConfig(address=10, time_sync_required=False)
    outstation = Outstation(config=config, database=device_database(DER, VALUES))
    server = OutstationServer(outstation, "127.0.0.1", 0, ssl_context=ssl_context)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _master(handler: DefaultSOEHandler) -> Master:
    return Master(config=MasterConfig(address=1, outstation_address=10), handler=handler)


def _p_mw(handler: DefaultSOEHandler) -> float:
    return float(readings(DER, handler)["p_w"].value)


async def _poll(port: int) -> float | None:
    """P [MW] an integrity poll reads at ``port``; None when the poll fails."""
    received = DefaultSOEHandler()
    try:
        async with MasterTcpRunner(master=_master(received), host="127.0.0.1", port=port) as r:
            await asyncio.wait_for(r.integrity_poll(), 2.0)
    except Exception:
        return None
    return _p_mw(received) if received.analog_inputs else None


def test_an_integrity_poll_through_our_server_reads_the_device() -> None:
    async def scenario() -> float | None:
        async with _serving() as server:
            return await _poll(server.port)

    assert asyncio.run(scenario()) == pytest.approx(0.4321, abs=P_RESOLUTION_MW)


def test_a_changed_value_arrives_unsolicited_once_the_master_enables_it() -> None:
    async def scenario() -> tuple[float, int, bool]:
        async with _serving() as server:
            received = DefaultSOEHandler()
            async with MasterTcpRunner(
                master=_master(received), host="127.0.0.1", port=server.port
            ) as polling:
                await polling.integrity_poll()
                await polling.enable_unsolicited()
                # nothing changed: nothing is sent
                quiet = await polling.listen_unsolicited(timeout=0.3)
                point = DER.named("p_w")
                server.outstation.database.update_analog_input(point.index, point.to_raw(0.25))
                server.notify()
                info = await polling.listen_unsolicited(timeout=UNSOLICITED_WAIT_S)
                assert info is not None, "no unsolicited response"
                return _p_mw(received), server.unsolicited_sent, quiet is None

    p_mw, sent, quiet = asyncio.run(scenario())
    assert quiet
    assert sent == 1
    assert p_mw == pytest.approx(0.25, abs=P_RESOLUTION_MW)


def test_a_dropped_link_refuses_the_master_and_a_restored_one_serves_it() -> None:
    async def scenario() -> tuple[float | None, float | None, float | None]:
        async with _serving() as server:
            before = await _poll(server.port)
            await server.drop_link()
            during = await _poll(server.port)
            server.restore_link()
            after = await _poll(server.port)
            return before, during, after

    before, during, after = asyncio.run(scenario())
    assert before == pytest.approx(0.4321, abs=P_RESOLUTION_MW)
    assert during is None
    assert after == pytest.approx(0.4321, abs=P_RESOLUTION_MW)


def _garbage() -> list[bytes]:
    rng = random.Random(1815)
    start = b"\x05\x64"
    return [
        bytes(rng.randrange(256) for _ in range(600)),  # noise
        start + b"\xff" * 300,  # a start octet pair then a bad header CRC
        start + bytes([0x05, 0xC4, 0x0A, 0x00, 0x01, 0x00]) + b"\x00\x00",  # truncated frame
        (start + bytes(rng.randrange(256) for _ in range(290))) * 40,  # many broken frames
    ]


def test_garbage_on_the_wire_never_stops_the_server() -> None:
    async def scenario() -> float | None:
        async with _serving() as server:
            for chunk in _garbage():
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.close()
                await writer.wait_closed()
            return await _poll(server.port)

    assert asyncio.run(scenario()) == pytest.approx(0.4321, abs=P_RESOLUTION_MW)


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, an outstation and a master certificate signed by it, and a stranger's
    self-signed certificate."""
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2")
    for name in ("ca", "stranger"):  # self-signed
        keys = ("-keyout", d / f"{name}.key", "-out", d / f"{name}.pem")
        _openssl("req", "-x509", *ec, *keys, "-subj", f"/CN={name}")
    for name in ("outstation", "master"):  # signed by the CA
        _openssl("req", *ec[:-2], "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr",
                 "-subj", f"/CN={name}")  # fmt: skip
        ca = ("-CA", d / "ca.pem", "-CAkey", d / "ca.key", "-CAcreateserial")
        _openssl("x509", "-req", "-in", d / f"{name}.csr", *ca, "-out", d / f"{name}.pem",
                 "-days", "2")  # fmt: skip
    return d


async def _tls_poll(port: int, context: ssl.SSLContext) -> float | None:
    received = DefaultSOEHandler()
    channel = TlsClientChannel(
        config=TcpConfig(host="127.0.0.1", port=port, connect_timeout=2.0), ssl_context=context
    )
    try:
        async with MasterTcpRunner(master=_master(received), channel=channel) as polling:
            await asyncio.wait_for(polling.integrity_poll(), 2.0)
    except Exception:
        return None
    finally:
        if channel.is_open:
            await channel.close()
    return _p_mw(received) if received.analog_inputs else None


def test_dnp3_over_tls_with_mutual_certificates(pki: Path) -> None:
    serving = server_context(pki / "outstation.pem", pki / "outstation.key", pki / "ca.pem")
    master = client_context(pki / "ca.pem", pki / "master.pem", pki / "master.key")
    no_certificate = client_context(pki / "ca.pem")
    stranger = client_context(pki / "ca.pem", pki / "stranger.pem", pki / "stranger.key")

    async def scenario() -> tuple[float | None, ...]:
        async with _serving(serving) as server:
            ok = await _tls_poll(server.port, master)
            anonymous = await _tls_poll(server.port, no_certificate)
            unknown = await _tls_poll(server.port, stranger)
            plain = DefaultSOEHandler()
            try:
                async with MasterTcpRunner(
                    master=_master(plain), host="127.0.0.1", port=server.port
                ) as polling:
                    await asyncio.wait_for(polling.integrity_poll(), 1.0)
            except Exception:
                pass
            again = await _tls_poll(server.port, master)  # the refusals cost the server nothing
            return ok, anonymous, unknown, float(bool(plain.analog_inputs)), again

    ok, anonymous, unknown, plain_read, again = asyncio.run(scenario())
    assert ok == pytest.approx(0.4321, abs=P_RESOLUTION_MW)
    assert anonymous is None  # mutual authentication: no master certificate, no data
    assert unknown is None  # a certificate the CA did not sign
    assert plain_read == 0.0  # plain DNP3 to a TLS port reads nothing
    assert again == pytest.approx(0.4321, abs=P_RESOLUTION_MW)


def test_a_master_refuses_an_outstation_its_ca_did_not_sign(pki: Path) -> None:
    serving = server_context(pki / "stranger.pem", pki / "stranger.key")
    master = client_context(pki / "ca.pem", pki / "master.pem", pki / "master.key")

    async def scenario() -> float | None:
        async with _serving(serving) as server:
            return await _tls_poll(server.port, master)

    assert asyncio.run(scenario()) is None


def test_missing_or_broken_tls_files_are_named(pki: Path, tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match=r"certificate file .*nowhere\.pem does not exist"):
        server_context(tmp_path / "nowhere.pem", pki / "outstation.key")
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate\n")
    with pytest.raises(TlsConfigError, match=r"broken\.pem.* does not load"):
        server_context(broken, pki / "outstation.key")
    with pytest.raises(TlsConfigError, match=r"CA file .*broken\.pem does not load"):
        client_context(broken)
