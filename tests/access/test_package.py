"""`edge.access` names its public surface once and loads each name at first use."""

from __future__ import annotations

import importlib

import pytest

import edge.access as access


def test_every_public_name_is_its_submodules_object() -> None:
    assert set(access.__all__) == set(access._MODULE_OF)
    for name in access.__all__:
        module = importlib.import_module(f"edge.access.{access._MODULE_OF[name]}")
        assert getattr(access, name) is getattr(module, name), name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'decide_all'"):
        _ = access.decide_all
    with pytest.raises(ImportError):
        from edge.access import decide_all  # noqa: F401
