"""`appban demo`: the seed cases and a synthetic fleet with a few weeks of history, built into a SQLite database
through the same service and store code the other commands use, then served.

`fleet` generates the fleet (pure, deterministic from a seed), `sample_apk` writes the small TikTok build the
demo assesses, `build` writes it all to the store.
"""

from appban.demo.build import (
    DEMO_ACTOR,
    DEMO_LOGIN,
    DEMO_ORGANISATION,
    DEMO_TOKEN_NAME,
    DEMO_URL,
    DemoResult,
    build_demo,
    examples_directory,
    is_demo_database,
    state_counts,
)
from appban.demo.fleet import (
    BYTEDANCE_APPS,
    DEFAULT_SEED,
    DEFAULT_WEEKS,
    EU_RESTRICTION,
    MAX_WEEKS,
    PROFILES,
    Day,
    DemoDevice,
    DemoHolder,
    Fleet,
    OrgProfile,
    PlannedExemption,
    Story,
    generate_fleet,
)
from appban.demo.sample_apk import TIKTOK_PACKAGE, TIKTOK_PERMISSIONS, TIKTOK_SDK_CLASSES, build_apk, tiktok_apk

__all__ = [
    "BYTEDANCE_APPS",
    "DEFAULT_SEED",
    "DEFAULT_WEEKS",
    "DEMO_ACTOR",
    "DEMO_LOGIN",
    "DEMO_ORGANISATION",
    "DEMO_TOKEN_NAME",
    "DEMO_URL",
    "EU_RESTRICTION",
    "MAX_WEEKS",
    "PROFILES",
    "TIKTOK_PACKAGE",
    "TIKTOK_PERMISSIONS",
    "TIKTOK_SDK_CLASSES",
    "Day",
    "DemoDevice",
    "DemoHolder",
    "DemoResult",
    "Fleet",
    "OrgProfile",
    "PlannedExemption",
    "Story",
    "build_apk",
    "build_demo",
    "examples_directory",
    "generate_fleet",
    "is_demo_database",
    "state_counts",
    "tiktok_apk",
]
