"""The TOML writer behind the runtime config: what it writes reads back identical."""

from __future__ import annotations

import math
import tomllib

from hypothesis import given
from hypothesis import strategies as st

from sim.tomlw import dumps

keys = st.text(min_size=1, max_size=8)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=10,
)
tables = st.dictionaries(
    keys,
    st.one_of(
        values,
        st.lists(st.dictionaries(keys, values, min_size=1, max_size=4), min_size=1, max_size=3),
    ),
    max_size=6,
)


@given(tables)
def test_round_trip(data: dict[str, object]) -> None:
    """tomllib.loads(dumps(d)) == d for config-shaped data (tables, arrays of tables, inline)."""
    assert tomllib.loads(dumps(data)) == data


def test_special_floats_and_unicode() -> None:
    """inf, -inf and nan survive; non-ASCII text stays readable."""
    back = tomllib.loads(dumps({"a": math.inf, "b": -math.inf, "c": math.nan, "n": "体育馆"}))
    assert back["a"] == math.inf and back["b"] == -math.inf and math.isnan(back["c"])
    assert back["n"] == "体育馆"
    assert "体育馆" in dumps({"n": "体育馆"})
