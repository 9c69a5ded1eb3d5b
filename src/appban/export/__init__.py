"""Restrictions compiled into what real device-management systems apply, and the signed restriction feed.

Pure: values in, values out (docs/export.md). One module per target: `amapi` (Android Management API policy
fragments), `intune` (a Microsoft Graph iOS compliance policy), `apple` (a configuration profile with a
Restrictions payload), `feed` (an Ed25519-signed feed of an organisation's restrictions).
"""

from appban.export.amapi import AmapiExporter
from appban.export.apple import AppleExporter
from appban.export.feed import (
    FEED_FORMAT,
    MAX_FEED_BYTES,
    Feed,
    FeedExporter,
    FeedRestriction,
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
    public_key_text,
    verify_feed,
)
from appban.export.interface import BannedApp, Exporter, ExportInput, ExportOutput, ExportRestriction
from appban.export.intune import IntuneExporter

__all__ = [
    "FEED_FORMAT",
    "MAX_FEED_BYTES",
    "TARGETS",
    "AmapiExporter",
    "AppleExporter",
    "BannedApp",
    "ExportInput",
    "ExportOutput",
    "ExportRestriction",
    "Exporter",
    "Feed",
    "FeedExporter",
    "FeedRestriction",
    "IntuneExporter",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_text",
    "verify_feed",
]

TARGETS: tuple[str, ...] = ("amapi", "intune", "apple", "feed")
