"""Notices to holders and owners (docs/notices.md).

The pure part decides and words them: `interface` (the values and the transport protocol), `compose` (which
notices are due now, never the same item twice, a digest per recipient), `render` and `templates/` (plain
text and HTML in da, de, en, fr, nl), `delivery` (retry schedule). The transports are shells: `smtp`
(smtplib, STARTTLS, login) and `webhook` (JSON POST signed with HMAC-SHA256). The store keeps the queue
(appban.store.NoticeRepository) and the scheduler (appban.service.scheduler) runs it all.
"""

from appban.notify.compose import (
    COUNTRY_LANGUAGES,
    Facts,
    OpenFinding,
    Settings,
    compose,
    due_items,
    language_of,
    notices,
    week_start,
)
from appban.notify.delivery import Fanout, RetryPolicy, transport_from_env
from appban.notify.interface import HOLDER_KINDS, OWNER_KINDS, DedupKey, DeliveryError, Notice, NoticeKind, Transport
from appban.notify.render import DEFAULT_LANGUAGE, LANGUAGES, Item, render
from appban.notify.smtp import SmtpSettings, SmtpTransport, message_of
from appban.notify.webhook import WebhookTransport, sign, verify

__all__ = [
    "COUNTRY_LANGUAGES",
    "DEFAULT_LANGUAGE",
    "HOLDER_KINDS",
    "LANGUAGES",
    "OWNER_KINDS",
    "DedupKey",
    "DeliveryError",
    "Facts",
    "Fanout",
    "Item",
    "Notice",
    "NoticeKind",
    "OpenFinding",
    "RetryPolicy",
    "Settings",
    "SmtpSettings",
    "SmtpTransport",
    "Transport",
    "WebhookTransport",
    "compose",
    "due_items",
    "language_of",
    "message_of",
    "notices",
    "render",
    "sign",
    "transport_from_env",
    "verify",
    "week_start",
]
