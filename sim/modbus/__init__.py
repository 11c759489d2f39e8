"""Simulated Modbus devices that speak the real protocols (pymodbus servers).

The API, smallest first:

- `RegisterBank(size=10000, *, coils=, discrete=, holding=, input=)`: a unit's memory,
  protocol addresses from 0. `get(table, addr, count)` / `set(table, addr, values)` with
  table in "coil" | "discrete" | "holding" | "input", plus `get_coils/set_coils`,
  `get_discrete/set_discrete`, `get_holding/set_holding`, `get_input/set_input`, and
  `get_point(point)` / `set_point(point, value)` for engineering values of a
  `drivers.modbus.points.PointSpec` (same codec as the bus). The simulator's own `set*`
  calls fire no hooks. `bank.on_write(hook)` registers `hook(table, address, values)`,
  called after a Modbus *master* wrote (FC5/6/15/16), so behaviours react (a gate pulse
  coil, a setpoint change). Out-of-range addresses answer exception 2.
- `SimUnit(unit_id, bank=RegisterBank())`: one device id on a link, with fault switches
  you flip at any time: `offline` (no reply), `slow_s` (extra reply delay), `garbage`
  (bad CRC on RTU / truncated frame on TCP), `exception_code` (answer every request with
  that exception), `answer_as` (replies carry another unit id); `heal()` clears them;
  `requests` counts what it received.
  A request for a unit id that is not on the link gets no reply (as on RS-485).
- Servers (async context managers yielding a `SimServer`):
  `serve_tcp(units, host="127.0.0.1", port=0)` -> `.port`;
  `serve_rtu_over_tcp(units, host, port=0, baudrate=19200, wire_time=False, turnaround_s=0)`
  (a transparent serial gateway: RTU frames on TCP) -> `.port`;
  `serve_rtu_pty(units, baudrate=19200, wire_time=True, turnaround_s=0.0)` -> `.client_port`
  (the pty path the master opens; several units share the bus; needs `socat`).
  `await server.drop_link()` kills the listener and its connections (and the socat pair);
  `await server.restart()` brings it back on the same port/path with the same memory.
- Wire time (`sim.modbus.wire.WireModel`): with `wire_time=True` every RTU reply is
  delayed by request frame + 3.5-char silence + turnaround + reply frame at 11 bits per
  character (1.75 ms silence above 19200 baud), so a pty behaves like a real bus.
- `sim.modbus.farm`: runs many TCP units in a separate process for benchmarks
  (`start_farm(devices, registers)` -> ports, `stop_farm`).

Everything binds to 127.0.0.1 with free ports; every server cleans up on exit.
"""

from __future__ import annotations

from .bank import RegisterBank
from .server import SimServer, serve_rtu_over_tcp, serve_rtu_pty, serve_tcp
from .unit import SimUnit
from .wire import WireModel

__all__ = [
    "RegisterBank",
    "SimServer",
    "SimUnit",
    "WireModel",
    "serve_rtu_over_tcp",
    "serve_rtu_pty",
    "serve_tcp",
]
