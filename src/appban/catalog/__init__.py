"""The app catalogue: app families and their identities, publishers, ownership and the tests of control.

Pure: values in, values out. The shipped data lives in `appban/catalog/data/`; `default_catalog()` reads it.
"""

from appban.catalog.catalog import Catalog
from appban.catalog.control import CONTROL_TESTS, MAJORITY, PAFACA_2024, ControlTest, StakeTest
from appban.catalog.parse import default_catalog, parse_catalog

__all__ = [
    "CONTROL_TESTS",
    "MAJORITY",
    "PAFACA_2024",
    "Catalog",
    "ControlTest",
    "StakeTest",
    "default_catalog",
    "parse_catalog",
]
