"""The transports against real servers started in the test: SMTP (aiosmtpd, STARTTLS, login) and a webhook
receiver checking the HMAC signature; retries with backoff and the dead letter, through the scheduler."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from appban.notify import (
    DedupKey,
    DeliveryError,
    Notice,
    NoticeKind,
    RetryPolicy,
    SmtpSettings,
    SmtpTransport,
    WebhookTransport,
    sign,
    verify,
)
from appban.service import Scheduler
from appban.store import Database, NoticeRepository

from .support import WEBHOOK_SECRET, link, smtp_server, webhook_receiver

NOW = dt.datetime(2023, 3, 1, 8, 0, tzinfo=dt.UTC)


def notice(recipient: str = "ann@example.eu") -> Notice:
    key = DedupKey(recipient, NoticeKind.GRACE, "eu-commission-tiktok-2023", "phone-1", NOW)
    return Notice(kind=NoticeKind.GRACE, recipient=recipient, language="da", subject="Handling påkrævet: fjern TikTok",
                  text="Fjern TikTok senest 1. marts 2023.\n" + link("phone-1") + "\n",
                  html=f"<p>Fjern TikTok</p><a href=\"{link('phone-1')}\">hjælp</a>", keys=(key,))


def test_smtp_delivers_both_parts_over_starttls_with_a_login(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as (mailbox, settings):
        SmtpTransport(settings).send(notice())
        assert mailbox.logins == ["appban"]
        [message] = mailbox.to("ann@example.eu")
        assert message["Subject"] == "Handling påkrævet: fjern TikTok"
        assert message["Content-Language"] == "da"
        assert str(message["X-Appban-Notice"]).strip() == notice().key.text()  # a long header is folded
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and html is not None
        assert link("phone-1") in text.get_content() and link("phone-1") in html.get_content()


def test_smtp_failures_are_delivery_errors(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as (_, settings):
        wrong = SmtpSettings(host=settings.host, port=settings.port, user="appban", password="wrong",
                             sender=settings.sender, tls_context=settings.tls_context, timeout=5)
        with pytest.raises(DeliveryError, match="login refused"):
            SmtpTransport(wrong).send(notice())
    with pytest.raises(DeliveryError, match=r"SMTP 127\.0\.0\.1"):  # the server is gone
        SmtpTransport(settings).send(notice())


def test_smtp_settings_from_the_environment() -> None:
    assert SmtpSettings.from_env({}) is None
    settings = SmtpSettings.from_env({"APPBAN_SMTP_HOST": "relay.example.eu", "APPBAN_SMTP_USER": "u",
                                      "APPBAN_SMTP_PASSWORD": "p", "APPBAN_SMTP_STARTTLS": "false"})
    assert settings is not None
    assert (settings.port, settings.user, settings.starttls, settings.sender) == (587, "u", False,
                                                                                 "appban@relay.example.eu")
    with pytest.raises(ValueError, match="APPBAN_SMTP_PORT"):
        SmtpSettings.from_env({"APPBAN_SMTP_HOST": "h", "APPBAN_SMTP_PORT": "smtp"})


def test_webhook_signature_covers_timestamp_and_body() -> None:
    body = b'{"a": 1}'
    signature = sign(WEBHOOK_SECRET, 1_700_000_000, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(WEBHOOK_SECRET, "1700000000", signature, body, now=1_700_000_100)
    assert not verify(WEBHOOK_SECRET, "1700000000", signature, body + b" ", now=1_700_000_100)
    assert not verify(WEBHOOK_SECRET, "1700000001", signature, body, now=1_700_000_100)
    assert not verify(WEBHOOK_SECRET, "1700000000", signature, body, now=1_700_000_000 + 301)  # a replay
    assert not verify(b"another-secret-of-enough-length", "1700000000", signature, body, now=1_700_000_000)


def _scheduler(database: Database, url: str, attempts: int = 6) -> Scheduler:
    return Scheduler(database, transport=WebhookTransport(url, WEBHOOK_SECRET), link=link,
                     retry=RetryPolicy(attempts=attempts, base=dt.timedelta(minutes=1)))


def test_webhook_retries_with_backoff_until_it_succeeds(database: Database) -> None:
    with database.session() as session:
        assert NoticeRepository(session).enqueue([notice()], NOW) == 1
        assert NoticeRepository(session).enqueue([notice()], NOW) == 0  # idempotent by dedup key
    with webhook_receiver([500, 503, 200]) as receiver:
        scheduler = _scheduler(database, receiver.url)
        assert scheduler.run_once(NOW).retried == 1  # fails: next attempt in 1 minute
        assert scheduler.run_once(NOW + dt.timedelta(seconds=59)).retried == 0  # not yet
        assert scheduler.run_once(NOW + dt.timedelta(minutes=1)).retried == 1  # fails again: 2 more minutes
        assert scheduler.run_once(NOW + dt.timedelta(minutes=2)).sent == 0
        assert scheduler.run_once(NOW + dt.timedelta(minutes=3)).sent == 1
        assert scheduler.run_once(NOW + dt.timedelta(hours=1)).sent == 0  # sent once, never again
    assert receiver.signatures_ok == [True, True, True]
    body = receiver.requests[-1]["body"]
    assert body["recipient"] == "ann@example.eu" and body["language"] == "da" and body["kind"] == "grace"
    assert receiver.requests[-1]["headers"]["X-Appban-Notice"] == notice().key.text()
    with database.session() as session:
        [record] = NoticeRepository(session).messages()
    assert (record.status, record.attempts, record.sent_at, record.last_error) == ("sent", 3, NOW + dt.timedelta(
        minutes=3), None)


def test_a_webhook_that_always_fails_leaves_a_dead_letter(database: Database) -> None:
    with database.session() as session:
        NoticeRepository(session).enqueue([notice()], NOW)
    with webhook_receiver([500]) as receiver:
        scheduler = _scheduler(database, receiver.url, attempts=3)
        results = [scheduler.run_once(NOW + dt.timedelta(minutes=m)) for m in (0, 1, 3, 7, 15)]
    assert [r.retried for r in results] == [1, 1, 0, 0, 0]
    assert [r.dead for r in results] == [0, 0, 1, 0, 0]
    assert len(receiver.requests) == 3
    with database.session() as session:
        [dead] = NoticeRepository(session).dead_letters()
        assert NoticeRepository(session).counts() == {"dead": 1}
    assert dead.attempts == 3 and dead.last_error == "webhook answered 500 Internal Server Error"
    assert dead.notice.recipient == "ann@example.eu" and dead.notice.subject.startswith("Handling")


def test_a_refused_request_is_dead_at_once(database: Database) -> None:
    with database.session() as session:
        NoticeRepository(session).enqueue([notice()], NOW)
    with webhook_receiver([404]) as receiver:
        assert _scheduler(database, receiver.url).run_once(NOW).dead == 1
    assert len(receiver.requests) == 1
