"""Issue 7's end to end on the demo fleet: with time moved forward, the holders of devices that must lose TikTok
are told when they enter grace and when they are cut off, each once, in their own language, over real SMTP."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from appban.demo import EU_RESTRICTION, build_demo
from appban.model import FindingState
from appban.notify import NoticeKind, SmtpTransport
from appban.notify.compose import language_of
from appban.service import Scheduler
from appban.store import (
    Database,
    DeviceRepository,
    FindingRepository,
    HolderRepository,
    NoticeRepository,
    OrganisationRepository,
)
from tests.notify.support import link, smtp_server

END = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)  # the end of the demo's history
GRACE = 20  # days: the Commission's restriction


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo-notices') / 'demo.db'}"
    build_demo(url, size=0.02, now=END)
    return url


def test_the_demo_fleets_holders_are_told_once_in_their_language_as_time_moves(demo: str, tmp_path: Path) -> None:
    database = Database.open(demo)
    with database.session() as session:
        states = {device: finding.verdict.state for (device, _), finding
                  in FindingRepository(session).get_for_restriction(EU_RESTRICTION).items()}
    in_grace = {device for device, state in states.items() if state is FindingState.GRACE}
    denied = {device for device, state in states.items() if state is FindingState.NON_COMPLIANT}
    assert in_grace, "the demo has devices inside their grace period"
    with smtp_server(tmp_path) as (mailbox, settings):
        scheduler = Scheduler(database, transport=SmtpTransport(settings), link=link)
        told = scheduler.run_once(END + dt.timedelta(minutes=1))
        cut = scheduler.run_once(END + dt.timedelta(days=GRACE + 1))  # every grace at END has run out
        again = scheduler.run_once(END + dt.timedelta(days=GRACE + 1, minutes=5))
    assert told.sent > 0 and cut.transitions > 0 and cut.sent > 0
    assert again.enqueued == 0 and again.sent == 0  # nothing is ever sent twice
    with database.session() as session:
        records = NoticeRepository(session).messages()
        holders = HolderRepository(session).get_many({r.notice.recipient for r in records})
        devices = DeviceRepository(session).get_many(in_grace | denied)
        organisations = {o.id: o for o in OrganisationRepository(session).all()}
    database.dispose()
    sent = [r for r in records if r.status == "sent"]
    assert len(sent) == len(mailbox.messages) == told.sent + cut.sent
    keys = [key for r in records for key in r.notice.keys]
    assert len(keys) == len(set(keys))
    kinds = Counter(key.kind for key in keys)
    assert kinds[NoticeKind.GRACE] > 0 and kinds[NoticeKind.CUTOFF] > 0
    cut_off = {key.device for key in keys if key.kind is NoticeKind.CUTOFF}
    assert cut_off & in_grace  # told when their grace ran out
    assert cut_off <= in_grace | denied  # and only devices that were in grace or already cut off
    for record in sent:
        holder = holders.get(record.notice.recipient)
        assert holder is not None, record.notice.recipient
        device = next((devices[k.device] for k in record.notice.keys if k.device in devices), None)
        organisation = device.organisation if device is not None else holder.organisation
        assert record.notice.language == language_of(holder, organisation, organisations)
    received = {message["To"]: message["Content-Language"] for _, message in mailbox.messages}
    assert {record.notice.recipient: record.notice.language for record in sent} == received
    assert len(set(received.values())) >= 2, received  # holders of several languages are in the fleet
