"""Each package offers its surface from `__init__`; `__all__` lists exactly what it imports for users."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = ["appban", "appban.policy", "appban.catalog", "appban.store", "appban.audit", "appban.model", "appban.gate",
            "appban.errors", "appban.api"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_complete_and_exact(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        attr for attr, value in vars(module).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", name).startswith("appban")
    }
    public.discard("annotations")
    exported = set(module.__all__)
    assert exported - {"__version__"} == public, (sorted(public - exported), sorted(exported - public))
