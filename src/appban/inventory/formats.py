"""The formats `appban import --format` and `POST /api/v1/inventory/{format}` accept, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from appban.errors import InvalidInput
from appban.inventory.amapi import AMAPI
from appban.inventory.apple_mdm import APPLE_MDM, AppleMdmFormat
from appban.inventory.csv_format import CSV
from appban.inventory.fleet import FLEET
from appban.inventory.graph import GRAPH
from appban.inventory.headwind import HEADWIND
from appban.inventory.interface import InventoryFormat
from appban.inventory.osquery import OSQUERY
from appban.model import Platform

__all__ = ["FORMATS", "inventory_format"]

FORMATS: Mapping[str, InventoryFormat] = MappingProxyType(
    {f.name: f for f in (AMAPI, APPLE_MDM, GRAPH, OSQUERY, HEADWIND, FLEET, CSV)})


def inventory_format(name: str, platform: Platform | None = None) -> InventoryFormat:
    """The format called `name`; Apple's command responses do not say their platform, so it can be given."""
    if name not in FORMATS:
        raise InvalidInput.at("--format", f"unknown format {name!r}", hint=f"one of: {', '.join(sorted(FORMATS))}")
    if platform is None:
        return FORMATS[name]
    if name != APPLE_MDM.name:
        raise InvalidInput.at("--platform", f"the {name} format names each device's platform itself",
                              hint="--platform is for apple-mdm files only")
    try:
        return AppleMdmFormat(platform)
    except ValueError as error:
        raise InvalidInput.at("--platform", str(error)) from None
