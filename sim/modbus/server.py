"""pymodbus servers for simulated units, with fault injection and the RTU wire-time model.

The pymodbus server does the framing; a thin request handler decides per unit
whether to answer (offline, unknown id), how late (slow, wire time), with what
(exception code, or the RegisterBank through a small datastore adapter) and
whether to break the frame (garbage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from .pty import PtyPair
from .unit import SimUnit
from .wire import WireModel

_TABLE_OF_FC = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 4: "input"}
_TABLE_OF_FC.update({fc: "holding" for fc in (3, 6, 16, 22, 23)})

# pymodbus logs every unknown unit id and client disconnect at ERROR: noise for a simulator.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class _Datastore:
    """The datastore interface pymodbus requests call, backed by each unit's RegisterBank."""

    def __init__(self, units: dict[int, SimUnit]) -> None:
        self.units = units

    def device_ids(self) -> list[int]:
        return list(self.units)

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        try:
            return self.units[device_id].bank.get(_TABLE_OF_FC[func_code], address, count)
        except (IndexError, KeyError):
            return ExcCodes.ILLEGAL_ADDRESS

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        values = values if isinstance(values, list) else [values]
        try:
            self.units[device_id].bank.master_write(_TABLE_OF_FC[func_code], address, values)
        except (IndexError, KeyError):
            return ExcCodes.ILLEGAL_ADDRESS
        except ValueError:
            return ExcCodes.ILLEGAL_VALUE
        return None


class _FaultyHandler(ServerRequestHandler):
    async def handle_request(self) -> None:
        request, addr = self.last_pdu, self.last_addr
        if request is None:
            return
        sim: _SimMixin = self.server
        unit = sim.sim_units.get(request.dev_id)
        if unit is None:
            return  # nobody with that id on the bus: silence, as on RS-485
        unit.requests += 1
        if unit.offline:
            return
        response: ModbusPDU
        if unit.exception_code is not None:
            response = ExceptionResponse(request.function_code, unit.exception_code)
        else:
            response = await request.datastore_update(sim.context, request.dev_id)
        response.transaction_id = request.transaction_id
        response.dev_id = request.dev_id if unit.answer_as is None else unit.answer_as
        packet = self.framer.buildFrame(response)
        request_size = len(self.framer.buildFrame(request))
        delay = unit.slow_s + sim.wire.reply_delay(request_size, len(packet))
        if delay > 0:
            await asyncio.sleep(delay)
        if unit.garbage:
            # RTU: flip the CRC; TCP: cut the frame short. Either way the master must reject it.
            packet = packet[:-1] + bytes([packet[-1] ^ 0xFF]) if sim.rtu else packet[:-2]
        if self.transport is not None:
            self.send(packet, addr=addr)


class _SimMixin:
    sim_units: dict[int, SimUnit]
    wire: WireModel
    rtu: bool
    # pymodbus types `context` as ModbusServerContext | SimCore; ours is the duck-typed
    # _Datastore above, which pymodbus's requests call through the same methods.
    context: Any

    def _install(self, units: dict[int, SimUnit], wire: WireModel, rtu: bool) -> None:
        self.sim_units, self.wire, self.rtu = units, wire, rtu
        self.context = _Datastore(units)

    def callback_new_connection(self) -> _FaultyHandler:
        # pymodbus leaves ServerRequestHandler.__init__ unannotated
        return _FaultyHandler(self, None, None, None)  # type: ignore[no-untyped-call]


class _TcpServer(_SimMixin, ModbusTcpServer):
    pass


class _SerialServer(_SimMixin, ModbusSerialServer):
    pass


def _placeholder() -> SimDevice:
    # pymodbus insists on a datastore at construction; `_install` replaces it.
    return SimDevice(0, simdata=[SimData(0, values=0, datatype=DataType.REGISTERS)])


def _unit_map(units: SimUnit | Iterable[SimUnit]) -> dict[int, SimUnit]:
    items = [units] if isinstance(units, SimUnit) else list(units)
    result: dict[int, SimUnit] = {}
    for u in items:
        if u.unit_id in result:
            raise ValueError(f"unit id {u.unit_id} twice on one bus")
        result[u.unit_id] = u
    return result


class SimServer:
    """A running simulated link. Use through `serve_tcp`, `serve_rtu_over_tcp`, `serve_rtu_pty`.

    `port` is the TCP port (TCP kinds); `client_port` the pty path for the master (RTU pty).
    `drop_link()` kills the server (and the pty pair); `restart()` brings it back on the
    same port/path; both keep the units and their memory.
    """

    def __init__(
        self,
        kind: str,
        units: dict[int, SimUnit],
        wire: WireModel,
        host: str = "127.0.0.1",
        port: int = 0,
        pty_dir: Path | None = None,
    ) -> None:
        self.kind = kind
        self.units = units
        self.wire = wire
        self.host = host
        self.port = port
        self._server: _TcpServer | _SerialServer | None = None
        self._pty = PtyPair(pty_dir) if kind == "rtu_pty" else None

    @property
    def client_port(self) -> str:
        if self._pty is None:
            raise AttributeError("client_port is for RTU pty servers; use .port")
        return str(self._pty.client_path)

    @property
    def running(self) -> bool:
        return self._server is not None

    async def _start(self) -> None:
        server: _TcpServer | _SerialServer
        if self._pty is not None:
            await self._pty.start()
            server = _SerialServer(
                _placeholder(),
                port=str(self._pty.server_path),
                framer=FramerType.RTU,
                baudrate=self.wire.baudrate,
                reconnect_delay=0,
            )
        else:
            framer = FramerType.RTU if self.kind == "rtu_tcp" else FramerType.SOCKET
            server = _TcpServer(_placeholder(), framer=framer, address=(self.host, self.port))
        server._install(self.units, self.wire, rtu=self.kind != "tcp")
        await server.serve_forever(background=True)
        if self._pty is None:
            sockets = server.transport.sockets  # type: ignore[attr-defined]  # asyncio.Server
            self.port = sockets[0].getsockname()[1]
        self._server = server

    async def drop_link(self) -> None:
        """Stop answering: close the listener and every connection (kill socat for a pty)."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]  # unannotated in pymodbus
        if self._pty is not None:
            await self._pty.stop()
        await asyncio.sleep(0)

    async def restart(self) -> None:
        """Come back on the same port / pty path."""
        await self.drop_link()
        for attempt in range(50):
            try:
                await self._start()
                return
            except (OSError, RuntimeError):
                if attempt == 49:
                    raise
                await asyncio.sleep(0.05)

    async def __aenter__(self) -> SimServer:
        await self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.drop_link()
        if self._pty is not None:
            with contextlib.suppress(Exception):
                await self._pty.close()


def serve_tcp(
    units: SimUnit | Iterable[SimUnit], host: str = "127.0.0.1", port: int = 0
) -> SimServer:
    """Modbus TCP server (MBAP framing) for these units: `async with serve_tcp(u) as s: s.port`."""
    return SimServer("tcp", _unit_map(units), WireModel(enabled=False), host, port)


def serve_rtu_over_tcp(
    units: SimUnit | Iterable[SimUnit],
    host: str = "127.0.0.1",
    port: int = 0,
    baudrate: int = 19200,
    wire_time: bool = False,
    turnaround_s: float = 0.0,
) -> SimServer:
    """A serial gateway in transparent mode: RTU frames over a TCP socket."""
    wire = WireModel(baudrate, turnaround_s, wire_time)
    return SimServer("rtu_tcp", _unit_map(units), wire, host, port)


def serve_rtu_pty(
    units: SimUnit | Iterable[SimUnit],
    baudrate: int = 19200,
    wire_time: bool = True,
    turnaround_s: float = 0.0,
    pty_dir: Path | None = None,
) -> SimServer:
    """RTU units sharing one socat pty pair; the master opens `server.client_port`."""
    wire = WireModel(baudrate, turnaround_s, wire_time)
    return SimServer("rtu_pty", _unit_map(units), wire, pty_dir=pty_dir)
