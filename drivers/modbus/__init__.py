"""Modbus field drivers: profiles, codec, block planner and the bus engine.

Public surface (everything else is internal):

    async with Bus(TcpLink("10.0.0.5", 502), [DeviceConfig("hall1_lights", 1, profile)],
                   clock=clock, on_event=handle) as bus:
        result = await bus.write("hall1_lights", "ch3_on", True)   # WriteResult

See docs/drivers.md.
"""

from __future__ import annotations

from ..clock import Clock
from .bus import Bus
from .codec import Value, decode_point, encode_point
from .errors import (
    BusClosed,
    CodecError,
    ModbusDriverError,
    PointNotWritable,
    ProfileError,
    TransactionFailed,
    UnknownPoint,
    ValueOutOfRange,
)
from .events import BusEvent, BusStats, DeviceStatus, PointUpdate, Quality, WriteResult
from .links import DeviceConfig, Link, RtuLink, RtuOverTcpLink, TcpLink
from .planner import Block, plan_blocks, plan_profile
from .points import DataType, DeviceProfile, Heartbeat, PointSpec, Readback, Table
from .profiles import list_profiles, load_profile, parse_profile, profile_from_data, resolve

__all__ = [
    "Block",
    "Bus",
    "BusClosed",
    "BusEvent",
    "BusStats",
    "Clock",
    "CodecError",
    "DataType",
    "DeviceConfig",
    "DeviceProfile",
    "DeviceStatus",
    "Heartbeat",
    "Link",
    "ModbusDriverError",
    "PointNotWritable",
    "PointSpec",
    "PointUpdate",
    "ProfileError",
    "Quality",
    "Readback",
    "RtuLink",
    "RtuOverTcpLink",
    "Table",
    "TcpLink",
    "TransactionFailed",
    "UnknownPoint",
    "Value",
    "ValueOutOfRange",
    "WriteResult",
    "decode_point",
    "encode_point",
    "list_profiles",
    "load_profile",
    "parse_profile",
    "plan_blocks",
    "plan_profile",
    "profile_from_data",
    "resolve",
]
