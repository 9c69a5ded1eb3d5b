"""Delivery by e-mail: smtplib, STARTTLS and authentication, configured by `APPBAN_SMTP_*`. A shell.

| variable | meaning | default |
|---|---|---|
| `APPBAN_SMTP_HOST` | the relay | (none: no e-mail) |
| `APPBAN_SMTP_PORT` | its port | 587 |
| `APPBAN_SMTP_USER`, `APPBAN_SMTP_PASSWORD` | log in with these (after STARTTLS) | no login |
| `APPBAN_SMTP_FROM` | the sender address | `appban@<host>` |
| `APPBAN_SMTP_STARTTLS` | `true` or `false` | `true` |
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from appban.notify.interface import DeliveryError, Notice

__all__ = ["SmtpSettings", "SmtpTransport", "message_id", "message_of"]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = ""
    starttls: bool = True
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None  # None: the system's trust store, host names checked

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """The settings from `APPBAN_SMTP_*`, or None when no host is set."""
        env = os.environ if env is None else env
        host = env.get("APPBAN_SMTP_HOST", "").strip()
        if not host:
            return None
        port_text = env.get("APPBAN_SMTP_PORT", "587").strip()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"APPBAN_SMTP_PORT: {port_text!r} is not a port number")
        starttls = env.get("APPBAN_SMTP_STARTTLS", "true").strip().lower()
        if starttls not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"APPBAN_SMTP_STARTTLS: {starttls!r} is not true or false")
        return cls(host=host, port=int(port_text), user=env.get("APPBAN_SMTP_USER") or None,
                   password=env.get("APPBAN_SMTP_PASSWORD") or None,
                   sender=env.get("APPBAN_SMTP_FROM") or f"appban@{host}",
                   starttls=starttls in ("true", "1", "yes"))


def message_of(notice: Notice, sender: str) -> EmailMessage:
    """The e-mail of a notice: plain text first, HTML as the alternative, the language in Content-Language."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notice.recipient
    message["Subject"] = notice.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(notice, sender)
    message["X-Appban-Notice"] = notice.key.text()
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(notice.text)
    message.add_alternative(notice.html, subtype="html")
    message["Content-Language"] = notice.language  # after the bodies: set_content drops Content-* headers
    return message


def message_id(notice: Notice, sender: str) -> str:
    """The notice's `Message-ID`, the same at every attempt (derived from its dedup key, unique in the store), so
    a receiver can drop a message delivered twice (a worker killed between sending and recording it)."""
    digest = hashlib.sha256(notice.key.text().encode()).hexdigest()[:40]
    domain = sender.rpartition("@")[2] or "appban.invalid"
    return f"<notice.{digest}@{domain}>"


class SmtpTransport:
    """One connection per batch is not worth its complexity here: one SMTP session per notice."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    def send(self, notice: Notice) -> None:
        s = self._settings
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as client:
                client.ehlo()
                if s.starttls:
                    client.starttls(context=s.tls_context or ssl.create_default_context())
                    client.ehlo()
                if s.user is not None:
                    client.login(s.user, s.password or "")
                client.send_message(message_of(notice, s.sender))
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(f"the relay refused {notice.recipient}: {error.recipients}", permanent=True) from error
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(f"SMTP login refused: {error.smtp_code} {error.smtp_error!r}") from error
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP {s.host}:{s.port}: {type(error).__name__}: {error}") from error
