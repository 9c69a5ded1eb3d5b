"""How long to wait before trying a notice again, several transports as one, and the transports configured.

A failed delivery is tried again after `base`, then twice as long each time (capped at `cap`), `attempts` times
in all; then the notice is dead: kept in the store as a dead letter with its last error, for a person to
look at (`appban worker` logs it). A permanent error (an address the relay refuses) is dead at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from appban.notify.interface import DeliveryError, Notice, Transport
from appban.notify.smtp import SmtpSettings, SmtpTransport
from appban.notify.webhook import WebhookTransport

__all__ = ["Fanout", "RetryPolicy", "transport_from_env"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    base: dt.timedelta = dt.timedelta(minutes=1)
    factor: float = 2.0
    cap: dt.timedelta = dt.timedelta(hours=6)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a notice needs at least one attempt")

    def delay(self, failures: int) -> dt.timedelta:
        """How long to wait after the `failures`-th failed attempt (1 for the first)."""
        seconds = self.base.total_seconds() * self.factor ** max(0, failures - 1)
        return min(dt.timedelta(seconds=seconds), self.cap)

    def next_attempt(self, failures: int, now: dt.datetime) -> dt.datetime | None:
        """When to try again after `failures` failed attempts, or None: give up (dead letter)."""
        return None if failures >= self.attempts else now + self.delay(failures)


class Fanout:
    """Every transport gets every notice; one failing fails the delivery (and all are tried again later, so a
    receiver may see a notice twice: it carries its dedup key to recognise it)."""

    name = "fanout"

    def __init__(self, transports: Sequence[Transport]) -> None:
        self._transports = tuple(transports)

    def send(self, notice: Notice) -> None:
        errors: list[DeliveryError] = []
        for transport in self._transports:
            try:
                transport.send(notice)
            except DeliveryError as error:
                errors.append(error)
        if errors:
            raise DeliveryError("; ".join(str(e) for e in errors), permanent=all(e.permanent for e in errors))


def transport_from_env(env: Mapping[str, str] | None = None) -> Transport | None:
    """The transports configured by `APPBAN_SMTP_*` and `APPBAN_WEBHOOK_*`: one, both (a Fanout), or None.
    Raises ValueError naming the variable that is wrong."""
    transports: list[Transport] = []
    smtp = SmtpSettings.from_env(env)
    if smtp is not None:
        transports.append(SmtpTransport(smtp))
    webhook = WebhookTransport.from_env(env)
    if webhook is not None:
        transports.append(webhook)
    if not transports:
        return None
    return transports[0] if len(transports) == 1 else Fanout(transports)
