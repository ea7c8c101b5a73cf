"""DNP3 over TLS, IEC 62351-3 style: TLS 1.2 or newer, certificates and keys from PEM files,
mutual authentication when a CA file is given.

IEC 62351-3 asks for TLS with both ends authenticated by X.509 certificates. The server side
(our ADMS outstation) always presents its certificate; with ``ca_file`` it also requires the
master's certificate and checks it against that CA. The client side (a master) checks the
outstation's certificate against ``ca_file`` and presents its own when given one. Host names
are not checked (DNP3 peers are configured by address, and IEC 62351-3 authenticates by the
certificate chain); everything else is the :mod:`ssl` default.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from dnp3.transport_io.channel import ChannelConnectionError, ChannelState
from dnp3.transport_io.tcp_client import TcpClientChannel


class TlsConfigError(ValueError):
    """A certificate, key or CA file that is missing or does not load (named)."""


def _load_chain(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    for what, path in (("certificate", cert_file), ("key", key_file)):
        if not Path(path).is_file():
            raise TlsConfigError(f"DNP3 TLS {what} file {path} does not exist")
    try:
        context.load_cert_chain(str(cert_file), str(key_file))
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(
            f"DNP3 TLS certificate {cert_file} with key {key_file} does not load: {exc}"
        ) from exc


def _load_ca(context: ssl.SSLContext, ca_file: Path) -> None:
    if not Path(ca_file).is_file():
        raise TlsConfigError(f"DNP3 TLS CA file {ca_file} does not exist")
    try:
        context.load_verify_locations(cafile=str(ca_file))
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(f"DNP3 TLS CA file {ca_file} does not load: {exc}") from exc


def server_context(cert_file: Path, key_file: Path, ca_file: Path | None = None) -> ssl.SSLContext:
    """A TLS server context for an outstation; with ``ca_file`` masters must present a
    certificate signed by that CA.

    Raises
    ------
    TlsConfigError
        A file that is missing or does not load.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, cert_file, key_file)
    if ca_file is not None:
        _load_ca(context, ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(
    ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    """A TLS client context for a master: the outstation's certificate must be signed by
    ``ca_file``; with ``cert_file`` and ``key_file`` the master presents its own.

    Raises
    ------
    TlsConfigError
        A file that is missing or does not load.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    _load_ca(context, ca_file)
    if cert_file is not None and key_file is not None:
        _load_chain(context, cert_file, key_file)
    return context


@dataclass
class TlsClientChannel(TcpClientChannel):
    """dnp3py's TCP client channel with a TLS handshake: give it to ``MasterTcpRunner`` as
    ``channel`` for DNP3 over TLS (``ssl_context`` from :func:`client_context`)."""

    ssl_context: ssl.SSLContext | None = field(default=None, kw_only=True)

    async def open(self) -> None:
        """Connect and complete the TLS handshake.

        Raises
        ------
        ChannelConnectionError
            The connection or the handshake failed (a certificate refused by either end).
        """
        if self._state == ChannelState.OPEN:
            return
        self._state = ChannelState.OPENING
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.config.host, self.config.port, ssl=self.ssl_context),
                timeout=self.config.connect_timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            self._state = ChannelState.CLOSED
            raise ChannelConnectionError(
                f"DNP3 over TLS to {self.config.host}:{self.config.port} failed: {exc}"
            ) from exc
        self._state = ChannelState.OPEN
        self._statistics.connect_count += 1


__all__ = ["TlsClientChannel", "TlsConfigError", "client_context", "server_context"]
