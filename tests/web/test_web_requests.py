"""Issue 6 on the dashboard: exemption requests (filed, approved or rejected, audited, scoped), exemptions ending
soon, the notices sent about a device, and the what-if of an edited draft on the restriction page."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from appban.model import Exemption
from appban.notify import DedupKey, Notice, NoticeKind
from appban.store import AuditLog, ExemptionRepository, FindingRepository, NoticeRepository, RestrictionRepository

from .conftest import Site, csrf_of
from .support import EU_RESTRICTION

LAST_DAY = (dt.date.today() + dt.timedelta(days=20)).isoformat()


def _state(site: Site, device: str) -> str:
    with site.database.session() as session:
        finding = FindingRepository(session).get_for_devices([device]).get((device, EU_RESTRICTION))
        return "compliant" if finding is None else finding.verdict.state.value


def _audit(site: Site) -> list[tuple[str, str, str]]:
    with site.database.session() as session:
        return [(e.event.value, e.subject, e.actor) for e in AuditLog(session).entries()]


def _file(site: Site, username: str, device: str = "eu/phone-1") -> str:
    client = site.signed_in(username)
    page = client.get(f"/devices/{device}")
    response = client.post("/exemptions/requests", data={
        "csrf": csrf_of(page.text), "restriction": EU_RESTRICTION, "device": device,
        "reason": "Runs the press office's account", "ends": LAST_DAY, "return_to": f"/devices/{device}"})
    assert response.status_code == 303, response.text
    found = re.search(r"requested=(exr-[0-9a-f]+)", response.headers["location"])
    assert found is not None and response.headers["location"].startswith(f"/devices/{device}?")
    return found.group(1)


def test_an_analyst_asks_and_an_admin_of_the_issuer_approves(site: Site) -> None:
    analyst = site.signed_in("ec-analyst")
    device_page = analyst.get("/devices/eu/phone-1").text
    assert "Request an exemption for this device" in device_page and "Grant exemption" not in device_page
    before = len(_audit(site))
    request_id = _file(site, "ec-analyst")
    assert _state(site, "eu/phone-1") == "non_compliant"  # pending: nothing changes
    assert _audit(site)[before:] == [("exemption:request", request_id, _audit(site)[-1][2])]
    assert "ec-analyst" in _audit(site)[-1][2]
    mine = analyst.get("/exemptions").text
    assert request_id in mine and f"Approve request {request_id}" not in mine  # an analyst does not decide
    assert request_id in analyst.get("/devices/eu/phone-1").text

    admin = site.signed_in("ec-admin")
    page = admin.get("/exemptions")
    assert f'aria-label="Approve request {request_id}"' in page.text
    assert f'<label for="ap-ends-{request_id}">' in page.text
    approved = admin.post(f"/exemptions/requests/{request_id}/approve", data={
        "csrf": csrf_of(page.text), "ends": LAST_DAY, "note": "Until the campaign ends"})
    assert approved.status_code == 303, approved.text
    exemption_id = approved.headers["location"].split("approved=")[1]
    assert exemption_id.startswith("ex-")
    assert _state(site, "eu/phone-1") == "exempt"  # judged again, as a grant
    events = _audit(site)
    assert [e[0] for e in events[-2:]] == ["exemption:create", "exemption:approve"]
    assert all("ec-admin" in actor for _, _, actor in events[-2:]) and events[-1][1] == request_id
    with site.database.session() as session:
        exemption = ExemptionRepository(session).get(exemption_id)
        assert exemption is not None and exemption.approver == "ec-admin" and exemption.device == "eu/phone-1"
        assert exemption.ends == dt.datetime.combine(dt.date.fromisoformat(LAST_DAY) + dt.timedelta(days=1),
                                                     dt.time(), dt.UTC)
        stored = ExemptionRepository(session).get_request(request_id)
        assert stored is not None and stored.status == "approved" and stored.exemption == exemption_id
    after = admin.get("/exemptions").text
    assert "✓ approved" in after and "No request waits for a decision" in after
    again = admin.post(f"/exemptions/requests/{request_id}/reject", data={"csrf": csrf_of(after), "reason": "x"})
    assert again.status_code == 422 and "already approved" in again.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_rejection_needs_a_reason_and_grants_nothing(site: Site) -> None:
    request_id = _file(site, "ec-admin", "eu/phone-2")
    admin = site.signed_in("ec-admin")
    page = admin.get("/exemptions").text
    empty = admin.post(f"/exemptions/requests/{request_id}/reject", data={"csrf": csrf_of(page), "reason": " "})
    assert empty.status_code == 422 and 'role="alert"' in empty.text and "say why" in empty.text
    rejected = admin.post(f"/exemptions/requests/{request_id}/reject", data={
        "csrf": csrf_of(page), "reason": "No work need shown"})
    assert rejected.status_code == 303 and "rejected=" in rejected.headers["location"]
    assert _state(site, "eu/phone-2") == "non_compliant"
    assert _audit(site)[-1][:2] == ("exemption:reject", request_id)
    listed = admin.get("/exemptions").text
    assert "✕ rejected" in listed and "No work need shown" in listed
    assert "No work need shown" in admin.get("/devices/eu/phone-2").text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_bad_requests_are_explained_and_store_nothing(site: Site) -> None:
    client = site.signed_in("ec-analyst")
    page = client.get("/exemptions").text
    before = len(_audit(site))
    response = client.post("/exemptions/requests", data={
        "csrf": csrf_of(page), "restriction": EU_RESTRICTION, "device": "eu/phone-1", "holder": "ana@ec.example.eu",
        "reason": "", "ends": "soon"})
    assert response.status_code == 422 and 'role="alert"' in response.text
    assert "exactly one device or one holder" in response.text and "YYYY-MM-DD" in response.text
    past = client.post("/exemptions/requests", data={
        "csrf": csrf_of(page), "restriction": EU_RESTRICTION, "device": "eu/phone-1", "reason": "r",
        "ends": "2001-01-01"})
    assert past.status_code == 422 and "not in the future" in past.text
    assert len(_audit(site)) == before


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_request_and_what_if_posts_need_the_csrf_token_and_the_right_role(site: Site) -> None:
    request_id = _file(site, "ec-analyst")
    admin = site.signed_in("ec-admin")
    before = len(_audit(site))
    form = {"restriction": EU_RESTRICTION, "device": "eu/phone-1", "reason": "r", "ends": LAST_DAY}
    assert admin.post("/exemptions/requests", data=form).status_code == 403
    assert admin.post("/exemptions/requests", data={**form, "csrf": "forged"}).status_code == 403
    assert admin.post(f"/exemptions/requests/{request_id}/approve", data={"ends": LAST_DAY}).status_code == 403
    assert admin.post(f"/exemptions/requests/{request_id}/reject", data={"reason": "r"}).status_code == 403
    assert admin.post(f"/restrictions/{EU_RESTRICTION}/what-if", data={"draft": "x"}).status_code == 403
    auditor = site.signed_in("ec-auditor")
    page = auditor.get("/devices/eu/phone-1").text
    assert "Request exemption" not in page
    assert auditor.post("/exemptions/requests", data={**form, "csrf": csrf_of(page)}).status_code == 403
    analyst = site.signed_in("ec-analyst")
    token = csrf_of(analyst.get("/").text)
    assert analyst.post(f"/exemptions/requests/{request_id}/approve",
                        data={"csrf": token, "ends": LAST_DAY}).status_code == 403
    assert analyst.post(f"/restrictions/{EU_RESTRICTION}/what-if", data={"csrf": token, "draft": "x"}).status_code \
        == 403
    assert analyst.post("/exemptions/requests/x/withdraw", data={"csrf": token}).status_code == 404
    assert len(_audit(site)) == before
    assert _state(site, "eu/phone-1") == "non_compliant"


def test_nobody_sees_or_decides_another_organisations_requests(site: Site) -> None:
    request_id = _file(site, "ec-analyst")
    leuven = site.signed_in("leuven-admin")
    page = leuven.get("/exemptions").text
    assert request_id not in page and "eu/phone" not in page
    for decision, fields in (("approve", {"ends": LAST_DAY}), ("reject", {"reason": "r"})):
        seen = leuven.post(f"/exemptions/requests/{request_id}/{decision}", data={"csrf": csrf_of(page), **fields})
        ghost = leuven.post(f"/exemptions/requests/exr-00000000/{decision}", data={"csrf": csrf_of(page), **fields})
        assert seen.status_code == ghost.status_code == 404
        assert seen.text.replace(request_id, "ID") == ghost.text.replace("exr-00000000", "ID")
    asked = leuven.post("/exemptions/requests", data={
        "csrf": csrf_of(page), "restriction": EU_RESTRICTION, "device": "eu/phone-1", "reason": "r",
        "ends": LAST_DAY})
    assert asked.status_code == 422 and "unknown restriction" in asked.text
    with site.database.session() as session:
        stored = ExemptionRepository(session).get_request(request_id)
        assert stored is not None and stored.status == "pending"
    audit = leuven.get("/audit").text
    assert request_id not in audit


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_exemptions_ending_soon_are_listed_as_such(site: Site) -> None:
    now = dt.datetime.now(dt.UTC)
    with site.database.session() as session:
        ExemptionRepository(session).grant(Exemption(
            id="ex-soon", restriction=EU_RESTRICTION, device="eu/phone-2", reason="Handover week",
            approver="DIGIT security", ends=now + dt.timedelta(days=5)), actor="tests", now=now)
    page = site.signed_in("ec-auditor").get("/exemptions").text
    section = page.split('id="expiring-h"')[1].split("</section>")[0]
    assert "Ending within 14 days (1)" in section and "ex-soon" in section and "Ends soon:" in section
    assert "ex-eu-tablet-5" not in section  # 40 days away


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_device_page_lists_the_notices_sent_about_it(site: Site) -> None:
    now = dt.datetime.now(dt.UTC)
    deadline = now - dt.timedelta(days=3)

    def notice(kind: NoticeKind, device: str, recipient: str) -> Notice:
        return Notice(kind=kind, recipient=recipient, language="en", subject=f"{kind} {device}", text="t",
                      html="<p>t</p>", keys=(DedupKey(recipient, kind, EU_RESTRICTION, device, deadline),))

    with site.database.session() as session:
        notices = NoticeRepository(session)
        notices.enqueue([notice(NoticeKind.GRACE, "eu/phone-1", "ana@ec.example.eu"),
                         notice(NoticeKind.CUTOFF, "eu/phone-1", "ana@ec.example.eu"),
                         notice(NoticeKind.GRACE, "eu/phone-2", "bo@ec.example.eu")], now)
        by_kind = {record.notice.kind: record.id for record in notices.messages()
                   if record.notice.key.device == "eu/phone-1"}
        notices.mark_sent(by_kind[NoticeKind.GRACE], now)
        notices.mark_failed(by_kind[NoticeKind.CUTOFF], "relay refused the address", None)
    page = site.signed_in("ec-analyst").get("/devices/eu/phone-1").text
    section = page.split('id="notices-h"')[1].split("</section>")[0]
    rows = re.findall(r'<tr data-notice-kind="(\w+)">(.*?)</tr>', section, re.S)
    assert sorted(kind for kind, _ in rows) == ["cutoff", "grace"]
    cells = dict(rows)
    assert "✓ sent" in cells["grace"] and "e-mail to ana@ec.example.eu" in cells["grace"]
    assert EU_RESTRICTION in cells["grace"]
    assert "✕ failed after 1 attempt" in cells["cutoff"] and "relay refused the address" in cells["cutoff"]
    assert "bo@ec.example.eu" not in section
    assert "No notices sent about this device" in site.signed_in("ec-analyst").get("/devices/eu/phone-4").text


def test_the_what_if_of_an_edited_draft_stores_nothing(site: Site) -> None:
    admin = site.signed_in("ec-admin")
    page = admin.get(f"/restrictions/{EU_RESTRICTION}").text
    assert '<label for="draft">' in page and "strictness: require" in page  # prefilled with the current file
    with site.database.session() as session:
        versions = len(RestrictionRepository(session).history(EU_RESTRICTION))
    before = len(_audit(site))
    text = re.search(r'<textarea id="draft"[^>]*>(.*?)</textarea>', page, re.S)
    assert text is not None
    import html

    draft = (html.unescape(text.group(1)).replace("strictness: require", "strictness: advise")
             .replace("grace: 20d\n", "").replace("cuts: [mail, chat]\n", ""))
    response = admin.post(f"/restrictions/{EU_RESTRICTION}/what-if", data={"csrf": csrf_of(page), "draft": draft})
    assert response.status_code == 200, re.findall(r'role="alert">.*?</p>', response.text, re.S)
    result = response.text.split('id="whatif-h"')[1].split("</section>")[0]
    counts = {state: int(n) for state, n in re.findall(
        r'data-whatif-state="(\w+)">.*?<strong>(\d+)</strong>', result, re.S)}
    assert counts["advised"] == 3 and counts["non_compliant"] == 0 and counts["grace"] == 0
    assert counts["exempt"] == 1 and counts["compliant"] == 2
    assert sorted(re.findall(r'data-whatif-device="([^"]+)"', result)) == [
        "eu/phone-1", "eu/phone-2", "eu/phone-3", "eu/tablet-5"]
    assert "(now 2)" in result  # beside today's non-compliant count
    assert "strictness: advise" in result  # the draft stays in the form
    with site.database.session() as session:
        assert len(RestrictionRepository(session).history(EU_RESTRICTION)) == versions
    assert len(_audit(site)) == before and _state(site, "eu/phone-1") == "non_compliant"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("draft", [
    "", "id: [unclosed", "- just\n- a list\n", "id: eu-commission-tiktok-2023\n", "\x00\x01binary",
    "id: another-id\nissuer: eu-commission\n", "a: " + "[" * 5000, "&a [*a]\n",
])
def test_a_bad_draft_is_one_line_on_the_page_never_a_500(site: Site, draft: str) -> None:
    admin = site.signed_in("ec-admin")
    page = admin.get(f"/restrictions/{EU_RESTRICTION}").text
    response = admin.post(f"/restrictions/{EU_RESTRICTION}/what-if", data={"csrf": csrf_of(page), "draft": draft})
    assert response.status_code == 422, response.text[:1000]
    alert = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text, re.S)
    assert alert is not None and "\n" not in alert.group(1).strip()
    assert "Impact of the draft" not in response.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_what_if_is_for_the_issuers_admins_only(site: Site) -> None:
    analyst = site.signed_in("ec-analyst")
    assert 'id="draft"' not in analyst.get(f"/restrictions/{EU_RESTRICTION}").text
    leuven = site.signed_in("leuven-admin")
    token = csrf_of(leuven.get("/").text)
    seen = leuven.post(f"/restrictions/{EU_RESTRICTION}/what-if", data={"csrf": token, "draft": "id: x"})
    ghost = leuven.post("/restrictions/eu-commission-tiktok-202x/what-if", data={"csrf": token, "draft": "id: x"})
    assert seen.status_code == ghost.status_code == 404
    # a restriction issued above the user's organisation: read only, no what-if
    federal = leuven.get("/restrictions/be-federal-tiktok-personal-2023")
    assert federal.status_code == 200 and 'id="draft"' not in federal.text
    assert leuven.post("/restrictions/be-federal-tiktok-personal-2023/what-if",
                       data={"csrf": token, "draft": "id: x"}).status_code == 403
