"""A dnp3py outstation served over TCP or TLS, with the unsolicited responses dnp3py's own
runner never sends.

dnp3py's ``OutstationTcpRunner`` answers requests but never calls
``Outstation.generate_unsolicited``, has no TLS, and reads one request at a time so a master's
confirm of a multi-fragment response is read by a nested loop. :class:`OutstationServer`
closes those gaps:

- it listens with :func:`asyncio.start_server`, so an :class:`ssl.SSLContext`
  (:mod:`scada_bridge.tls`) makes it DNP3 over TLS;
- one reader per connection parses link frames and reassembles application fragments; a
  worker answers requests (waiting for the master's CONFIRM after each non-final fragment);
- after each answer, and whenever :meth:`OutstationServer.notify` says the database changed,
  pending events of the classes the master enabled go out as an unsolicited response
  (confirm requested; an unconfirmed one is given up after the outstation's
  ``confirm_timeout`` so later events are not held back);
- DNP3 over TCP is point to point: a new connection replaces the current one;
- a frame that does not parse, an oversized fragment or a broken socket closes that
  connection only; the server keeps listening (the frame parser drops bytes that fail their
  CRC).

:meth:`OutstationServer.drop_link` and :meth:`OutstationServer.restore_link` take the link
down and up, as a failed radio or a pulled cable would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from dataclasses import dataclass, field

from dnp3.application.header import ApplicationControl
from dnp3.core.enums import LinkFunctionCode
from dnp3.datalink.builder import build_ack, build_link_status, build_unconfirmed_user_data
from dnp3.datalink.parser import FrameParser
from dnp3.outstation.outstation import Outstation
from dnp3.outstation.peer import PeerId
from dnp3.transport.reassembler import Reassembler
from dnp3.transport.segment import TransportSegment
from dnp3.transport.segmenter import Segmenter

logger = logging.getLogger(__name__)

#: application function code of CONFIRM
_CONFIRM = 0x00
#: the CON bit of an application control octet
_CON_BIT = 0x20
#: the UNS bit of an application control octet
_UNS_BIT = 0x10


@dataclass
class _Connection:
    """One master's connection: its streams, the master address it uses and its work queue."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    connection_id: int
    master_address: int = 0
    requests: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    confirmed: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    segmenter: Segmenter = field(default_factory=Segmenter)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class OutstationServer:
    """Serve ``outstation`` to one DNP3 master at a time on ``host:port``.

    Parameters
    ----------
    outstation : dnp3.outstation.Outstation
        The protocol state machine and its database.
    host : str
        Address to listen on.
    port : int
        TCP port; 0 picks a free one (:attr:`port` tells which after :meth:`start`).
    ssl_context : ssl.SSLContext, optional
        A server context (:func:`scada_bridge.tls.server_context`): the link is DNP3 over TLS.
    """

    def __init__(
        self,
        outstation: Outstation,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.outstation = outstation
        self.host = host
        self._requested_port = port
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._connection: _Connection | None = None
        self._changed = asyncio.Event()
        self._link_up = True
        self._unsolicited_sent_at = 0.0
        self._notifier: asyncio.Task[None] | None = None
        #: connections accepted and closed because of a bad frame or a broken socket
        self.connections_accepted = 0
        self.connections_failed = 0
        self.unsolicited_sent = 0

    @property
    def port(self) -> int:
        """The port listened on (after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connected(self) -> bool:
        """Whether a master is connected now."""
        return self._connection is not None

    @property
    def link_up(self) -> bool:
        """False between :meth:`drop_link` and :meth:`restore_link`."""
        return self._link_up

    async def start(self) -> None:
        """Listen (idempotent)."""
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, self.host, self._requested_port, ssl=self._ssl
            )
            self._notifier = asyncio.create_task(self._notify_loop())

    async def stop(self) -> None:
        """Close the connection and stop listening."""
        if self._notifier is not None:
            self._notifier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._notifier
            self._notifier = None
        await self._close_connection()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def notify(self) -> None:
        """The database changed: send pending events unsolicited (when the master enabled
        them). Safe to call from the event loop's thread only."""
        self._changed.set()

    async def drop_link(self) -> None:
        """Take the link down: close the connection and refuse new ones."""
        self._link_up = False
        await self._close_connection()

    def restore_link(self) -> None:
        """Accept connections again."""
        self._link_up = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._link_up:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
            return
        await self._close_connection()  # DNP3 over TCP is point to point: the newest wins
        self.connections_accepted += 1
        connection = _Connection(reader, writer, self.outstation.new_connection_id())
        self._connection = connection
        connection.tasks = [
            asyncio.create_task(self._read(connection)),
            asyncio.create_task(self._answer(connection)),
        ]
        try:
            await asyncio.wait(connection.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if self._connection is connection:
                await self._close_connection()

    async def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        current = asyncio.current_task()
        for task in connection.tasks:
            if task is not current:
                task.cancel()
        for task in connection.tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            self.outstation.release_connection(connection.connection_id)
        connection.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, ConnectionError):
            await connection.writer.wait_closed()

    async def _read(self, connection: _Connection) -> None:
        """Parse link frames; queue complete application fragments (confirms apart)."""
        parser = FrameParser()
        reassembler = Reassembler(max_fragment_size=self.outstation.config.max_fragment_size)
        address = self.outstation.config.address
        configured_master = self.outstation.config.master_address
        try:
            while True:
                data = await connection.reader.read(4096)
                if not data:
                    return
                for frame in parser.feed(data):
                    header = frame.header
                    if header.destination != address or not header.control.prm:
                        continue
                    if configured_master and header.source != configured_master:
                        continue
                    if not connection.master_address:
                        connection.master_address = header.source
                    master = connection.master_address
                    fc = header.control.function_code
                    if fc == LinkFunctionCode.PRI_REQUEST_LINK_STATUS:
                        await self._write(connection, build_link_status(master, address, False))
                        continue
                    if fc in (
                        LinkFunctionCode.PRI_RESET_LINK_STATE,
                        LinkFunctionCode.PRI_TEST_LINK_STATE,
                        LinkFunctionCode.PRI_CONFIRMED_USER_DATA,
                    ):
                        await self._write(connection, build_ack(master, address, False))
                    if fc not in (
                        LinkFunctionCode.PRI_CONFIRMED_USER_DATA,
                        LinkFunctionCode.PRI_UNCONFIRMED_USER_DATA,
                    ):
                        continue
                    if not frame.user_data:
                        continue
                    assembled = reassembler.add(TransportSegment.from_bytes(frame.user_data))
                    if assembled is None:
                        continue
                    fragment = bytes(assembled.data)
                    if len(fragment) >= 2 and fragment[1] == _CONFIRM:
                        control = ApplicationControl.from_byte(fragment[0])
                        if fragment[0] & _UNS_BIT:
                            self._process(connection, fragment)  # clears the pending unsolicited
                            self._changed.set()  # more events may be waiting
                        else:
                            connection.confirmed.put_nowait(control.seq)
                        continue
                    connection.requests.put_nowait(fragment)
        except (ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            logger.info("DNP3 link closed: %s", exc)
        except Exception:  # a frame dnp3py cannot take: this connection only
            self.connections_failed += 1
            logger.exception("DNP3 link closed after a frame that could not be processed")

    def _process(self, connection: _Connection, fragment: bytes) -> list[bytes]:
        peer = PeerId(source=connection.master_address, connection=connection.connection_id)
        responses = self.outstation.process_request(fragment, peer=peer)
        return [response.to_bytes() for response in responses]

    async def _answer(self, connection: _Connection) -> None:
        """Answer queued requests in order, then send what events are pending."""
        try:
            while True:
                fragment = await connection.requests.get()
                responses = self._process(connection, fragment)
                for i, response in enumerate(responses):
                    last = i == len(responses) - 1
                    if not last:
                        response = bytes([response[0] | _CON_BIT]) + response[1:]
                    await self._send_fragment(connection, response)
                    if not last and not await self._confirmed(connection, response[0] & 0x0F):
                        logger.warning("no CONFIRM of fragment %d of %d", i + 1, len(responses))
                        break
                await self._send_unsolicited(connection)
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            logger.info("DNP3 link closed while answering: %s", exc)
        except Exception:
            self.connections_failed += 1
            logger.exception("DNP3 link closed after a request that could not be answered")

    async def _confirmed(self, connection: _Connection, seq: int) -> bool:
        deadline = time.monotonic() + self.outstation.config.confirm_timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                got = await asyncio.wait_for(connection.confirmed.get(), remaining)
            except TimeoutError:
                return False
            if got == seq:
                return True
        return False

    async def _notify_loop(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            connection = self._connection
            if connection is not None:
                try:
                    await self._send_unsolicited(connection)
                except (ConnectionError, OSError, ssl.SSLError):
                    await self._close_connection()
                except Exception:
                    logger.exception("unsolicited response could not be built")

    async def _send_unsolicited(self, connection: _Connection) -> None:
        state = self.outstation._state.unsolicited  # dnp3py keeps it private
        if state.pending_confirm:
            waited = time.monotonic() - self._unsolicited_sent_at
            if waited < self.outstation.config.confirm_timeout:
                return
            state.pending_confirm = False  # unconfirmed: give it up, send what came since
            state.confirm_sequence = -1
        if not connection.master_address:
            return  # the master has not spoken yet: no address to send to
        fragment = self.outstation.generate_unsolicited()
        if fragment is None:
            return
        self._unsolicited_sent_at = time.monotonic()
        self.unsolicited_sent += 1
        await self._send_fragment(connection, fragment.to_bytes())

    async def _send_fragment(self, connection: _Connection, fragment: bytes) -> None:
        address = self.outstation.config.address
        for segment in connection.segmenter.segment(fragment):
            frame = build_unconfirmed_user_data(
                destination=connection.master_address,
                source=address,
                dir_from_master=False,
                user_data=segment.to_bytes(),
            )
            await self._write(connection, frame)

    async def _write(self, connection: _Connection, frame: object) -> None:
        async with connection.write_lock:
            connection.writer.write(frame.to_bytes())  # type: ignore[attr-defined]
            await connection.writer.drain()


__all__ = ["OutstationServer"]
