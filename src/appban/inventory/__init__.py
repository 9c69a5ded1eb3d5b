"""Inventory sources: one module per real device-management format, each turning a file into DeviceReports."""

from appban.inventory.formats import FORMATS, inventory_format
from appban.inventory.holder_map import HOLDER_MAP_COLUMNS, HolderAssignment, read_holder_map
from appban.inventory.interface import (
    MAX_RECORD_APPS,
    DeviceReport,
    InstalledApp,
    InventoryFormat,
    MatchedBy,
    ReportDefaults,
    ReportKind,
    Visibility,
)

__all__ = [
    "FORMATS",
    "HOLDER_MAP_COLUMNS",
    "MAX_RECORD_APPS",
    "DeviceReport",
    "HolderAssignment",
    "InstalledApp",
    "InventoryFormat",
    "MatchedBy",
    "ReportDefaults",
    "ReportKind",
    "Visibility",
    "inventory_format",
    "read_holder_map",
]
