"""The holder's remediation page: what it says, the attestation flow that opens the gate, and what it refuses."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest

from appban.errors import StorageUnavailable
from appban.gate import Follower, Links, RemediationApp, Result, decide
from appban.store import AttestationRepository, AuditLog, Database

from .support import RULE, AsgiClient, now, seed_fleet, seed_policy, wait_for

LINKS = Links(b"remediation-test-secret-0123456789")
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


@pytest.fixture
def follower(database: Database) -> Iterator[Follower]:
    seed_fleet(database)
    running = Follower(database, LINKS, refresh_interval=3600)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def client(database: Database, follower: Follower) -> AsgiClient:
    return AsgiClient(RemediationApp(database, follower, LINKS, attestation_days=30))


def page(client: AsgiClient, device: str) -> str:
    response = client.get(LINKS.path(device))
    assert response.status_code == 200, response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    return response.text


def test_the_page_says_what_to_remove_why_by_when_and_how(client: AsgiClient) -> None:
    text = page(client, "late-phone")
    assert "Remove TikTok (com.zhiliaoapp.musically) from this device." in text
    assert "its publisher\n  must cooperate" not in text and "its publisher must cooperate" in text  # the rationale
    assert "this device cannot reach chat, mail" in text
    assert "How to remove an app on Android" in text
    assert "Tap the app, then Uninstall" in text
    assert 'name="nonce"' not in text  # the source sees the whole device: nothing to attest
    assert ">Check again</button>" in text
    graced = page(client, "grace-phone")
    assert "Do it by " in graced and "or this device loses access to chat, mail." in graced
    assert "Nothing to do" in page(client, "clean-phone")


def test_everything_shown_is_escaped(database: Database, client: AsgiClient) -> None:
    seed_policy(database, title='TikTok <script>alert("x")</script> & co')
    text = page(client, "late-phone")
    assert "<script>" not in text
    assert "TikTok &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in text


def test_a_holder_attests_removal_and_the_gate_follows(database: Database, client: AsgiClient,
                                                      follower: Follower) -> None:
    assert follower.table is not None
    assert decide(follower.table, "byod-phone", "mail", now()).result is Result.DENY
    text = page(client, "byod-phone")
    assert "cannot see the personal apps" in text
    nonce = NONCE.search(text)
    assert nonce is not None
    response = client.post(LINKS.path("byod-phone"), data={"restriction": RULE, "nonce": nonce.group(1),
                                                           "confirm": "yes"})
    assert response.status_code == 200, response.text
    assert "Thank you: your statement is recorded until" in response.text
    with database.session() as session:
        stored = AttestationRepository(session).get_many([("byod-phone", RULE)])
        entries = AuditLog(session).entries()
    assert stored[("byod-phone", RULE)].holder == "di@example.eu"
    assert (stored[("byod-phone", RULE)].expires - stored[("byod-phone", RULE)].at).days == 30
    assert entries[-1].event == "attestation:create" and entries[-1].actor.startswith("holder:di@example.eu")
    wait_for(lambda: decide(follower.table, "byod-phone", "mail", now()).allowed  # type: ignore[arg-type]
             , timeout=1.0)


def test_forms_from_elsewhere_or_unconfirmed_or_needless_are_refused(client: AsgiClient) -> None:
    path = LINKS.path("byod-phone")
    forged = client.post(path, data={"restriction": RULE, "nonce": "1.2.3", "confirm": "yes"})
    assert forged.status_code == 403
    other_device = LINKS.nonce("late-phone", RULE, now())
    assert client.post(path, data={"restriction": RULE, "nonce": other_device, "confirm": "yes"}).status_code == 403
    good = LINKS.nonce("byod-phone", RULE, now())
    assert client.post(path, data={"restriction": RULE, "nonce": good}).status_code == 400
    assert client.post(path, json={"restriction": RULE}).status_code == 415
    assert client.post(path, content=b"a=" + b"x" * 10_000,
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413
    needless = LINKS.nonce("late-phone", RULE, now())
    response = client.post(LINKS.path("late-phone"), data={"restriction": RULE, "nonce": needless, "confirm": "yes"})
    assert response.status_code == 409
    assert client.request("PUT", path).status_code == 405


def test_bad_links_get_a_404_page_and_the_general_page_helps_unknown_devices(client: AsgiClient) -> None:
    token = LINKS.token("late-phone")
    for bad in (token[:-2] + "AA", Links(b"another-secret-entirely-0123").token("late-phone"), "x", "a.b.c",
                token + "/more"):
        response = client.get(f"/remediate/{bad}")
        assert response.status_code == 404
        assert "This link is not valid" in response.text
    general = client.get("/remediate/")
    assert general.status_code == 200 and "not known to appban" in general.text
    assert "not known to appban" in page(client, "never-seen-device")


def test_when_the_database_is_away_the_page_shows_the_gates_table(database: Database, client: AsgiClient,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise StorageUnavailable("cannot reach PostgreSQL at db:5432: connection refused")

    monkeypatch.setattr(database, "session", broken)
    text = page(client, "late-phone")
    assert "appban cannot reach its database right now" in text
    assert "Remove TikTok (com.zhiliaoapp.musically) from this device." in text


def test_links_round_trip_any_device_id_and_refuse_tampering() -> None:
    for device_id in ("enterprises/LC0/devices/3f9a", "ÉCRAN-42", "a" * 512, "phone with spaces"):
        assert LINKS.device(LINKS.token(device_id)) == device_id
    encoded, mac = LINKS.token("late-phone").split(".")
    other, _ = LINKS.token("clean-phone").split(".")
    assert LINKS.device(f"{other}.{mac}") is None
    assert LINKS.device(f"{encoded}.{mac}=") is None
    assert LINKS.device("x" * 2000) is None


def test_nonces_expire_and_bind_the_restriction() -> None:
    at = now()
    nonce = LINKS.nonce("byod-phone", RULE, at)
    assert LINKS.check_nonce(nonce, "byod-phone", RULE, at + dt.timedelta(minutes=30))
    assert not LINKS.check_nonce(nonce, "byod-phone", RULE, at + dt.timedelta(hours=3))
    assert not LINKS.check_nonce(nonce, "byod-phone", "another-rule", at)
    assert not LINKS.check_nonce(nonce.replace(".", "", 1), "byod-phone", RULE, at)
