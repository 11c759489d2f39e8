"""docs/config.md is the reference of every venue-config key, generated from the model:
a key added to the model without regenerating (and documenting) it fails here."""

from __future__ import annotations

from pathlib import Path

from msgspec import inspect as mi

from drivers.modbus.points import PointSpec
from edge.config.model import VenueConfig
from edge.config.reference import render, sections

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "config.md"
REGENERATE = "regenerate it: python -m edge.config.reference > docs/config.md"


def test_docs_config_md_is_the_generated_reference() -> None:
    """docs/config.md is exactly what the generator writes from the model today."""
    assert DOC.read_text(encoding="utf-8") == render(), REGENERATE


def test_every_key_has_a_description() -> None:
    """Each key's row says what it means (a docstring under the field in the model)."""
    missing = [
        f"{title} {k.name}" for title, _, keys in sections() for k in keys if not k.description
    ]
    assert missing == [], "add a docstring under each of these fields: " + ", ".join(missing)


def _struct_fields(info: mi.Type, seen: set[type]) -> set[tuple[str, str]]:
    """(struct name, key) of every struct reachable from `info`, found independently of
    the generator's own walk."""
    out: set[tuple[str, str]] = set()
    if isinstance(info, mi.StructType):
        if info.cls in seen:
            return out
        seen.add(info.cls)
        for f in info.fields:
            out.add((info.cls.__name__, f.encode_name))
            out |= _struct_fields(f.type, seen)
    elif isinstance(info, mi.UnionType):
        for t in info.types:
            out |= _struct_fields(t, seen)
    elif isinstance(info, mi.ListType):
        out |= _struct_fields(info.item_type, seen)
    elif isinstance(info, mi.DictType):
        out |= _struct_fields(info.value_type, seen)
    return out


def test_every_key_of_the_model_has_a_row() -> None:
    """Every key of every table of the model, and every point-override key, has a row."""
    text = DOC.read_text(encoding="utf-8")
    keys = _struct_fields(mi.type_info(VenueConfig), set())
    point = mi.type_info(PointSpec)
    assert isinstance(point, mi.StructType)
    keys |= {("PointSpec", f.encode_name) for f in point.fields if f.encode_name != "name"}
    assert len(keys) > 150
    sections_ = {key for cls, key in keys if cls == "VenueConfig"}
    missing = sorted(
        f"{cls}.{key}"
        for cls, key in keys
        if f"| `{key}` |" not in text
        and not (key in sections_ and (f"## [{key}]" in text or f"## [[{key}]]" in text))
    )
    assert missing == [], REGENERATE
    rows = sum(len(k) for _, _, k in sections())
    assert rows >= len({key for _, key in keys})


def test_sections_follow_the_file() -> None:
    """The reference names the tables as they are written in a venue file."""
    titles = [t for t, _, _ in sections()]
    for title in (
        "[site]",
        "[[zones]]",
        '[[buses]] kind = "modbus_rtu"',
        "[[devices]]",
        "[[devices]] location",
        "[[devices]] points",
        "[uplink]",
        "[[access.gates]]",
        "[alarms.classes.NAME]",
        "[energy]",
    ):
        assert title in titles
    assert "| `address` | integer | **required** |" in render()
