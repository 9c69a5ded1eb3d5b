"""The dashboard's pages: sign-in and sessions, CSRF, organisation scoping, roles, granting an exemption."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest

from appban.store import AuditLog, Database, FindingRepository
from appban.web import COOKIE, Sessions, create_web

from .conftest import SECRET, Site, csrf_of
from .support import EU_RESTRICTION, PASSWORD

PAGES = ["/", "/devices", "/exemptions", "/assessments", "/audit", f"/restrictions/{EU_RESTRICTION}",
         "/devices/eu/phone-1"]


def _count(html: str, restriction: str, state: str) -> int:
    row = re.search(rf'<tr data-restriction="{re.escape(restriction)}">(.*?)</tr>', html, re.S)
    assert row is not None, f"no row for {restriction}"
    cell = re.search(rf'data-state="{state}">(\d+)<', row.group(1))
    assert cell is not None
    return int(cell.group(1))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_pages_need_a_signed_in_user(site: Site) -> None:
    client = site.client()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=/"), path
    page = client.get("/login")
    assert page.status_code == 200 and '<label for="username">' in page.text and '<label for="password">' in page.text
    wrong = client.post("/login", data={"username": "ec-admin", "password": "not the password",
                                        "csrf": csrf_of(page.text), "next": "/"})
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    assert client.get("/static/appban.css").status_code == 200  # the sign-in page's style needs no session


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_page_renders_for_an_admin(site: Site) -> None:
    client = site.signed_in("ec-admin")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        headings = [int(level) for level in re.findall(r"<h([1-6])[ >]", response.text)]
        assert headings[0] == 1 and headings.count(1) == 1, path
        assert all(b - a <= 1 for a, b in itertools.pairwise(headings)), (path, headings)
        for control in re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"', response.text):
            assert f'for="{control}"' in response.text, (path, control)  # every visible control is labelled


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_session_cookie_is_signed_httponly_and_lax(site: Site) -> None:
    client = site.client()
    page = client.get("/login")
    response = client.post("/login", data={"username": "ec-admin", "password": PASSWORD, "csrf": csrf_of(page.text)})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    value = client.cookies[COOKIE]
    assert client.get("/").status_code == 200
    body, mac = value.split(".")
    for forged in (body + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B"), body[:-2] + "." + mac, "garbage",
                   Sessions(b"another secret of 32 bytes......", secure=False,
                            clock=lambda: dt.datetime.now(dt.UTC)).encode(
                       Sessions(SECRET, secure=False, clock=lambda: dt.datetime.now(dt.UTC)).decode(value))):
        client.cookies.clear()
        client.cookies.set(COOKIE, forged)
        assert client.get("/").status_code == 303  # refused: back to the sign-in page
    later = Sessions(SECRET, secure=True, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=9))
    assert later.decode(value) is None  # expired after a working day
    secure = create_web(site.database, secret=SECRET, secure_cookies=True).state.web.sessions
    assert secure.cookie_options()["secure"] is True  # when the public URL is https


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_post_without_the_csrf_token_is_refused(site: Site) -> None:
    client = site.signed_in("ec-admin")
    form = {"restriction": EU_RESTRICTION, "device": "eu/phone-1", "reason": "test", "approver": "me",
            "ends": "2099-01-01"}
    with site.database.session() as session:
        before = len(AuditLog(session).entries())
    assert client.post("/exemptions", data=form).status_code == 403
    assert client.post("/exemptions", data={**form, "csrf": "forged"}).status_code == 403
    assert client.post("/exemptions/ex-eu-tablet-5/revoke", data={}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    anonymous = site.client()
    assert anonymous.post("/login", data={"username": "ec-admin", "password": PASSWORD}).status_code == 403
    with site.database.session() as session:
        assert len(AuditLog(session).entries()) == before  # nothing happened


def test_granting_an_exemption_changes_the_counts_and_is_audited(site: Site) -> None:
    client = site.signed_in("ec-admin")
    overview = client.get("/").text
    assert (_count(overview, EU_RESTRICTION, "non_compliant"), _count(overview, EU_RESTRICTION, "grace"),
            _count(overview, EU_RESTRICTION, "compliant"), _count(overview, EU_RESTRICTION, "exempt")) == (2, 1, 2, 1)
    device = client.get("/devices/eu/phone-1")
    assert "non-compliant" in device.text and "Grant exemption" in device.text
    granted = client.post("/exemptions", data={
        "csrf": csrf_of(device.text), "restriction": EU_RESTRICTION, "device": "eu/phone-1",
        "reason": "Press office phone, needs the app for monitoring", "approver": "DIGIT security",
        "ends": (dt.date.today() + dt.timedelta(days=20)).isoformat(), "return_to": "/devices/eu/phone-1"})
    assert granted.status_code == 303 and granted.headers["location"].startswith("/devices/eu/phone-1?granted=ex-")
    overview = client.get("/").text
    assert (_count(overview, EU_RESTRICTION, "non_compliant"), _count(overview, EU_RESTRICTION, "exempt")) == (1, 2)
    with site.database.session() as session:
        finding = FindingRepository(session).get_for_devices(["eu/phone-1"])[("eu/phone-1", EU_RESTRICTION)]
        assert finding.verdict.state.value == "exempt"
        entry = AuditLog(session).entries()[-1]
        assert entry.event.value == "exemption:create" and entry.actor.startswith("user:")
        assert "ec-admin" in entry.actor
    exemption_id = granted.headers["location"].split("granted=")[1]
    page = client.get("/exemptions")
    revoked = client.post(f"/exemptions/{exemption_id}/revoke", data={"csrf": csrf_of(page.text)})
    assert revoked.status_code == 303
    assert _count(client.get("/").text, EU_RESTRICTION, "non_compliant") == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_bad_grant_is_explained_and_stores_nothing(site: Site) -> None:
    client = site.signed_in("ec-admin")
    page = client.get("/exemptions")
    response = client.post("/exemptions", data={"csrf": csrf_of(page.text), "restriction": EU_RESTRICTION,
                                                "device": "eu/phone-1", "holder": "ana@ec.example.eu",
                                                "reason": "", "approver": "x", "ends": "soon"})
    assert response.status_code == 422
    assert "exactly one device or one holder" in response.text and "YYYY-MM-DD" in response.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_roles_limit_what_a_user_may_do(site: Site) -> None:
    analyst = site.signed_in("ec-analyst")
    assert analyst.get("/audit").status_code == 403
    assert 'href="/audit"' not in analyst.get("/").text
    page = analyst.get("/devices/eu/phone-1")
    assert page.status_code == 200 and "Grant exemption" not in page.text
    assert analyst.post("/exemptions", data={"csrf": csrf_of(page.text), "restriction": EU_RESTRICTION,
                                             "device": "eu/phone-1", "reason": "r", "approver": "a",
                                             "ends": "2099-01-01"}).status_code == 403
    auditor = site.signed_in("ec-auditor")
    assert auditor.get("/audit").status_code == 200


def test_a_user_of_another_organisation_sees_nothing_of_the_commission(site: Site) -> None:
    client = site.signed_in("leuven-admin")
    cases = [("/restrictions/{}", EU_RESTRICTION, "eu-commission-tiktok-202x"),
             ("/devices/{}", "eu/phone-1", "eu/phone-x"),
             ("/devices?organisation={}", "eu-commission", "eu-commissiox"),
             ("/assessments/{}", site.seeded["assessment"], "asm_0000000000000000")]
    for pattern, foreign, ghost in cases:
        seen, unknown = client.get(pattern.format(foreign)), client.get(pattern.format(ghost))
        assert seen.status_code == unknown.status_code == 404, foreign
        assert seen.text.replace(foreign, "ID") == unknown.text.replace(ghost, "ID")  # nothing tells them apart
    page = client.get("/exemptions")
    assert "ex-eu-tablet-5" not in page.text
    assert client.post("/exemptions/ex-eu-tablet-5/revoke", data={"csrf": csrf_of(page.text)}).status_code == 404
    grant = client.post("/exemptions", data={"csrf": csrf_of(page.text), "restriction": EU_RESTRICTION,
                                             "device": "eu/phone-1", "reason": "r", "approver": "a",
                                             "ends": "2099-01-01"})
    assert grant.status_code == 422 and "unknown restriction" in grant.text
    for path in ("/", "/devices", "/exemptions", "/audit", "/assessments", "/devices?state=non_compliant"):
        text = client.get(path).text
        assert "eu/phone" not in text and EU_RESTRICTION not in text and "ec.example.eu" not in text, path
        assert "ec-admin" not in text and "eu-commission" not in text, path
    assert "leuven/phone-1" in client.get("/devices").text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_disabled_user_is_signed_out_at_the_next_page(site: Site, database: Database) -> None:
    client = site.signed_in("ec-auditor")
    assert client.get("/").status_code == 200
    from appban.store import UserRepository

    with database.session() as session:
        UserRepository(session).disable(site.seeded["users"]["ec-auditor"], actor="tests",
                                        now=dt.datetime.now(dt.UTC))
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_signing_out_ends_the_session(site: Site) -> None:
    client = site.signed_in("ec-admin")
    page = client.get("/")
    assert client.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert client.get("/").status_code == 303


@pytest.mark.parametrize(("actor", "shown"), [
    ("user:usr_8505690e38ab276c (ec-analyst)", "ec-analyst"),
    ("token:tok_589d536593671558 (mail-proxy)", "mail-proxy (API token)"),
    ("cli:ana", "cli:ana"),
    ("gate", "gate"),
])
def test_actors_read_as_names(actor: str, shown: str) -> None:
    from appban.web.app import _who

    assert _who(actor) == shown
