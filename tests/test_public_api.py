"""Each package offers its surface from `__init__`; `__all__` lists exactly what it imports for users."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import appban

# every package, found rather than listed, so that a new one is checked from its first commit; `api.routes` is
# the API's own wiring (its surface is `create_api`)
PACKAGES = ["appban", "appban.audit", "appban.model", "appban.errors",
            *(found.name for found in pkgutil.walk_packages(appban.__path__, "appban.")
              if found.ispkg and found.name != "appban.api.routes")]


def _offered(value: object, name: str) -> bool:
    """Made by appban: its classes and functions, and the type aliases it names (`Key = tuple[str, str]`)."""
    if isinstance(value, types.GenericAlias | types.UnionType) or hasattr(value, "__origin__"):
        return True
    return str(getattr(value, "__module__", name)).startswith("appban")


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_complete_and_exact(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        attr for attr, value in vars(module).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType) and _offered(value, name)
    }
    public.discard("annotations")
    exported = set(module.__all__)
    assert exported - {"__version__"} == public, (sorted(public - exported), sorted(exported - public))
