"""Runtime state of one device on a bus: last values, quality, online state.

Report by exception lives here: a point is emitted when its value moves by more
than its deadband, when its quality changes, or when `heartbeat_s` has passed
since it was last emitted. A status table is assembled from its segment blocks and
published once complete; its derived counts follow every publication of the table.

Most reads of a steady bus return what the previous read of the block returned: such a read
is recognised by comparing the raw registers, and costs no decoding, as long as no point of
the device was published since and no heartbeat is due.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from ..clock import Clock
from .codec import Value, compile_decoder
from .errors import CodecError
from .events import BusEvent, DeviceStatus, PointUpdate, Quality
from .links import DeviceConfig
from .planner import Block, plan_profile
from .points import DataType, DeviceProfile, PointSpec
from .status import StatusTableState, count_of

#: Decodes one point's slice of a block; None: nothing to publish yet (a table not
#: read completely).
SliceDecoder = Callable[[Sequence[int] | Sequence[bool]], Value | None]
#: Per point of a block: (point, start, stop, decoder).
Layout = list[tuple[PointSpec, int, int, SliceDecoder]]

log = structlog.get_logger("drivers.modbus")


@dataclass(slots=True)
class PointState:
    value: Value | None = None
    quality: Quality | None = None
    emitted_at: float = -math.inf


def differs(old: Value | None, new: Value | None, deadband: float) -> bool:
    if old is None or new is None:
        return old is not new
    if isinstance(old, float | int) and isinstance(new, float | int):
        if isinstance(old, bool) or isinstance(new, bool):
            return old != new
        if math.isnan(old) or math.isnan(new):
            return not (math.isnan(old) and math.isnan(new))
        return abs(new - old) > deadband if deadband else new != old
    return old != new


class _Same:
    """A profile as a cache key by identity (profiles hold dicts: not hashable by value).
    The cache holds the profile, so its id cannot be reused while the entry lives."""

    __slots__ = ("profile",)

    def __init__(self, profile: DeviceProfile) -> None:
        self.profile = profile

    def __hash__(self) -> int:
        return id(self.profile)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.profile is self.profile


@functools.lru_cache(maxsize=256)
def _shared_plan(key: _Same) -> tuple[list[Block], list[Layout | None]]:
    """The blocks and decoders of a profile, made once for all its devices (100 devices of
    one profile share them: about 30 KiB per 40-point device saved). A status-table segment
    feeds its device's own table: None here, made per device."""
    blocks = plan_profile(key.profile)
    return blocks, [None if b.first_entry is not None else _decoders(b) for b in blocks]


def _decoders(block: Block) -> Layout:
    out: Layout = []
    for p in block.points:
        start = p.address - block.start
        out.append((p, start, start + p.register_count, compile_decoder(p)))
    return out


class DeviceRuntime:
    def __init__(
        self, config: DeviceConfig, clock: Clock, emit: Callable[[BusEvent], None]
    ) -> None:
        self.config = config
        self.name = config.name
        blocks, layouts = _shared_plan(_Same(config.profile))
        self.blocks: list[Block] = blocks  # shared: never changed in place
        self.tables: dict[str, StatusTableState] = {
            p.name: StatusTableState(p)
            for p in config.profile.points
            if p.datatype is DataType.STATUS_TABLE
        }
        # Per block: (point, start, stop, decoder), decided once for the hot poll path.
        self.layouts: list[Layout] = [
            shared if shared is not None else self.layout(b)
            for b, shared in zip(blocks, layouts, strict=True)
        ]
        self.points: dict[str, PointSpec] = {p.name: p for p in config.profile.points}
        self.state: dict[str, PointState] = {p.name: PointState() for p in config.profile.points}
        self.dependents: dict[str, list[PointSpec]] = {}
        for p in config.profile.points:
            if p.count is not None:
                self.dependents.setdefault(p.count.of, []).append(p)
        # Per block: (raw data, device epoch, heartbeat due) after its last full apply.
        self._unchanged: list[tuple[list[int] | list[bool], int, float] | None] = [None] * len(
            self.blocks
        )
        self._epoch = 0
        """Bumped by every publication: a block read equal to its last one is skipped only
        if nothing of the device was published since (a quality mark, another block)."""
        self.online: bool | None = None
        self.device_fault = False  # offline because the device (not the link) failed
        self.reason = ""
        self.probe_attempt = 0
        self.last_success = -math.inf
        self._clock = clock
        self._emit = emit

    def layout(self, block: Block) -> Layout:
        """How to decode each point of a block (a table segment feeds its table)."""
        if block.first_entry is not None:
            table = self.tables[block.points[0].name]
            first = block.first_entry

            def segment(data: Sequence[int] | Sequence[bool]) -> Value | None:
                table.refused.discard(first)
                return table.apply(first, [int(v) for v in data])

            return [(block.points[0], 0, block.count, segment)]
        return _decoders(block)

    def apply_block(
        self, index: int, data: list[int] | list[bool], layout: Layout | None = None
    ) -> None:
        """Decode block `index`'s data (or by `layout`, for a block outside the poll plan)
        and publish its points: good, or uncertain when undecodable."""
        now = self._clock.monotonic()
        if layout is None:
            last = self._unchanged[index]
            if last is not None and last[1] == self._epoch and now < last[2] and last[0] == data:
                return  # the same registers as last time: every point would be unchanged
        for p, start, stop, decode in self.layouts[index] if layout is None else layout:
            try:
                value = decode(data[start:stop])
            except (CodecError, ValueError) as exc:
                log.debug("decode_failed", device=self.name, point=p.name, detail=str(exc))
                self.publish(p, None, Quality.UNCERTAIN)
                continue
            if value is None:
                continue
            table = self.tables.get(p.name)
            # A table with a segment the device refuses stays uncertain (not good and
            # uncertain in turn, re-sending its text every cycle).
            quality = Quality.UNCERTAIN if table is not None and table.refused else Quality.GOOD
            self.publish(p, value, quality, now)
        if layout is None and self.blocks[index].first_entry is None:
            due = min(self.state[p.name].emitted_at for p, *_ in self.layouts[index])
            self._unchanged[index] = (list(data), self._epoch, due + self.config.heartbeat_s)

    def refuse_block(self, index: int) -> None:
        """The device answered block `index` with an exception: its points are uncertain."""
        block = self.blocks[index]
        if block.first_entry is not None:
            self.tables[block.points[0].name].refused.add(block.first_entry)
        self.mark(block.points, Quality.UNCERTAIN)

    def publish(
        self, point: PointSpec, value: Value | None, quality: Quality, now: float | None = None
    ) -> None:
        st = self.state[point.name]
        if now is None:
            now = self._clock.monotonic()
        same = quality is st.quality and (value == st.value and type(value) is type(st.value))
        if same and now - st.emitted_at < self.config.heartbeat_s:
            return  # the common case on a steady bus: nothing to do
        changed = not same and (
            quality is not st.quality or differs(st.value, value, point.deadband)
        )
        if not changed and now - st.emitted_at < self.config.heartbeat_s:
            return
        st.value, st.quality, st.emitted_at = value, quality, now
        self._epoch += 1
        self._emit(PointUpdate(self.name, point.name, value, quality, self._clock.now()))
        for dep in self.dependents.get(point.name, ()):
            assert dep.count is not None
            count = count_of(value, dep.count.state) if isinstance(value, str) else None
            self.publish(dep, count, quality, now)

    def mark(self, points: tuple[PointSpec, ...] | list[PointSpec], quality: Quality) -> None:
        """Set a quality on points, keeping their last known values."""
        for p in points:
            if p.poll:
                self.publish(p, self.state[p.name].value, quality)

    def set_online(self) -> None:
        self.last_success = self._clock.monotonic()
        self.probe_attempt = 0
        self.device_fault = False
        if self.online is not True:
            if self.online is False:
                log.info("device_recovered", device=self.name)
            self.online, self.reason = True, ""
            self._emit(DeviceStatus(self.name, True, self._clock.now()))

    def set_offline(self, reason: str, device_fault: bool) -> None:
        self.device_fault = device_fault
        if self.online is not False:
            log.warning("device_offline", device=self.name, reason=reason)
            self.online, self.reason = False, reason
            self._emit(DeviceStatus(self.name, False, self._clock.now(), reason))
        else:
            log.debug("device_still_offline", device=self.name, reason=reason)
        self.mark(list(self.points.values()), Quality.COMM_FAIL)

    def check_stale(self) -> None:
        """Good values that have not been refreshed within `stale_after` turn stale."""
        if self.online and self._clock.monotonic() - self.last_success > self.config.stale_after:
            stale = [p for p in self.points.values() if self.state[p.name].quality is Quality.GOOD]
            if stale:
                log.warning("device_stale", device=self.name, points=len(stale))
                self.mark(stale, Quality.STALE)
