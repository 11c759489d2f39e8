"""Block planner: coverage, limits, gaps, and coalescing of the shipped profiles."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.planner import plan_blocks, plan_profile
from drivers.modbus.points import PointSpec
from drivers.modbus.profiles import list_profiles, load_profile

TYPES = ["uint16", "int32", "float64", "bool"]


@st.composite
def point_lists(draw: st.DrawFn) -> list[PointSpec]:
    n = draw(st.integers(1, 40))
    points = []
    for i in range(n):
        table = draw(st.sampled_from(["coil", "discrete", "holding", "input"]))
        spec: dict[str, object] = {
            "name": f"p{i}",
            "table": table,
            "address": draw(st.integers(0, 3000)),
        }
        if table in ("holding", "input"):
            dt = draw(st.sampled_from(TYPES))
            spec["datatype"] = dt
            if dt == "bool":
                spec["bit"] = draw(st.integers(0, 15))
        points.append(msgspec.convert(spec, PointSpec))
    return points


@given(
    points=point_lists(),
    max_gap=st.integers(0, 30),
    max_registers=st.integers(4, 125),
    max_bits=st.integers(1, 2000),
    allow_gaps=st.booleans(),
)
def test_every_point_in_exactly_one_block_within_limits(
    points: list[PointSpec], max_gap: int, max_registers: int, max_bits: int, allow_gaps: bool
) -> None:
    """Each point lies in exactly one block that spans it; sizes and gaps respect the limits."""
    blocks = plan_blocks(
        points,
        max_gap=max_gap,
        max_registers=max_registers,
        max_bits=max_bits,
        allow_gaps=allow_gaps,
    )
    assert len(blocks) <= len(points)
    seen = [p.name for b in blocks for p in b.points]
    assert sorted(seen) == sorted(p.name for p in points)
    for b in blocks:
        assert b.count <= (max_bits if b.table.is_bits else max_registers)
        for p in b.points:
            assert p.table is b.table
            assert b.start <= p.address and p.address + p.register_count <= b.end
        if not allow_gaps:
            covered: set[int] = set()
            for p in b.points:
                covered.update(range(p.address, p.address + p.register_count))
            assert covered == set(range(b.start, b.end))


def test_fewer_reads_than_points_for_every_profile() -> None:
    """Every shipped profile polls in far fewer requests than it has points."""
    for name in list_profiles():
        profile = load_profile(name)
        blocks = plan_profile(profile)
        tables = [b for b in blocks if b.first_entry is not None]
        # A status table (fire_gateway: 2,500 status words) is read in full blocks of its own.
        assert len(blocks) - len(tables) <= 4, (name, blocks)
        assert all(b.count == profile.max_block_registers for b in tables), name
    lighting = plan_profile(load_profile("lighting_8ch"))
    # 8 coils, 8 dims, 8 lamps, 8 currents; the write-only watchdog is not polled.
    assert len(lighting) == 4


def test_gap_rules() -> None:
    """A hole larger than max_gap splits a block; allow_gaps=False splits at any hole."""
    pts = [
        msgspec.convert({"name": "a", "table": "holding", "address": 0}, PointSpec),
        msgspec.convert({"name": "b", "table": "holding", "address": 5}, PointSpec),
    ]
    assert len(plan_blocks(pts, max_gap=4)) == 1
    assert len(plan_blocks(pts, max_gap=3)) == 2
    assert len(plan_blocks(pts, max_gap=10, allow_gaps=False)) == 2
