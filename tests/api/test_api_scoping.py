"""Every route of the OpenAPI document, walked with tokens that must not reach A's objects.

`PROBES` has one entry per (method, path) of the document, and `test_every_route_is_probed` fails when a
route is added without one, so a new route cannot ship without saying how it is scoped. The walks:

- with the admin token of an unrelated organisation B (a Belgian municipality), each probe is sent twice, once
  naming A's objects and once naming objects that exist nowhere: the answers must be the same, id for id
  (404 for paths, 422 for references in a body), list answers must hold nothing of A's, and nothing is
  written;
- without a token, every route but /healthz, /metrics and /openapi.json is 401 with `WWW-Authenticate`;
- with A's own tokens, each role gets 403 exactly where its permissions stop (gate: everywhere; source:
  everywhere but the inventory push; auditor: every change).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from appban.access import Permission, Role, allows
from appban.api import PUBLIC_PATHS, create_api
from appban.store import Database
from tests.risk.builders import apk, manifest, signer

from .conftest import EU_RESTRICTION, SIGNAL, TIKTOK, World, csv_rows

SRC = Path(__file__).resolve().parents[2] / "src" / "appban" / "api"
MUTATING = {"POST", "PUT", "DELETE", "PATCH"}


@dataclass(frozen=True)
class Probe:
    """A request naming A's objects through `<<placeholder>>`s, and what it needs and does."""

    permission: Permission | None  # None: public
    path: str = ""  # the concrete path with placeholders; default: the template itself
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    outsider: int = 200  # the status for B's admin
    mutates: bool = False


def new_restriction(issuer: str) -> str:
    return (EU_RESTRICTION.replace("id: eu-commission-tiktok-2023", "id: walk-new-restriction")
            .replace("issuer: eu-commission", f"issuer: {issuer}")
            .replace("organisations: [eu-commission]", f"organisations: [{issuer}]"))


EXISTING_FILE = EU_RESTRICTION.replace("title: TikTok off", "title: Walked TikTok off")
TOMORROW = "2099-01-01T00:00:00Z"

PROBES: dict[tuple[str, str], Probe] = {
    ("GET", "/healthz"): Probe(None),
    ("GET", "/metrics"): Probe(None),
    ("GET", "/api/v1/organisations"): Probe(Permission.READ),
    ("POST", "/api/v1/organisations"): Probe(
        Permission.MANAGE, json={"id": "walk-new-org", "name": "New", "parent": "<<org>>"}, outsider=422,
        mutates=True),
    ("GET", "/api/v1/organisations/{organisation_id}"): Probe(
        Permission.READ, "/api/v1/organisations/<<org>>", outsider=404),
    ("PUT", "/api/v1/organisations/{organisation_id}"): Probe(
        Permission.MANAGE, "/api/v1/organisations/<<org>>", json={"name": "Renamed", "parent": "<<root>>"},
        outsider=404, mutates=True),
    ("GET", "/api/v1/devices"): Probe(Permission.READ),
    ("GET", "/api/v1/devices/{device_id}"): Probe(Permission.READ, "/api/v1/devices/<<device>>", outsider=404),
    ("GET", "/api/v1/restrictions"): Probe(Permission.READ),
    ("POST", "/api/v1/restrictions"): Probe(
        Permission.MANAGE, json={"text": new_restriction("<<root>>")}, outsider=422, mutates=True),
    ("POST", "/api/v1/restrictions/impact"): Probe(
        Permission.READ, json={"text": new_restriction("<<root>>")}, outsider=422),
    ("GET", "/api/v1/restrictions/{restriction_id}"): Probe(
        Permission.READ, "/api/v1/restrictions/<<restriction>>", outsider=404),
    ("PUT", "/api/v1/restrictions/{restriction_id}"): Probe(
        Permission.MANAGE, "/api/v1/restrictions/<<restriction>>", json={"text": EXISTING_FILE},
        headers={"If-Match": '"1"'}, outsider=404, mutates=True),
    ("GET", "/api/v1/restrictions/{restriction_id}/adoptions"): Probe(
        Permission.READ, "/api/v1/restrictions/<<restriction>>/adoptions", outsider=404),
    ("PUT", "/api/v1/restrictions/{restriction_id}/adoptions/{organisation_id}"): Probe(
        Permission.MANAGE, "/api/v1/restrictions/<<restriction>>/adoptions/<<org>>", json={"adopted": True},
        outsider=404, mutates=True),
    ("GET", "/api/v1/exemptions"): Probe(Permission.READ),
    ("POST", "/api/v1/exemptions"): Probe(
        Permission.MANAGE, json={"restriction": "<<restriction>>", "device": "<<device>>", "reason": "walk",
                                 "approver": "walker", "ends": TOMORROW}, outsider=422, mutates=True),
    ("GET", "/api/v1/exemptions/{exemption_id}"): Probe(
        Permission.READ, "/api/v1/exemptions/<<exemption>>", outsider=404),
    ("DELETE", "/api/v1/exemptions/{exemption_id}"): Probe(
        Permission.MANAGE, "/api/v1/exemptions/<<exemption>>", headers={"If-Match": "*"}, outsider=404,
        mutates=True),
    ("GET", "/api/v1/exemptions/requests"): Probe(Permission.READ),
    ("POST", "/api/v1/exemptions/requests"): Probe(  # ends in the past: refused after the scoping checks
        Permission.REQUEST_EXEMPTION, json={"restriction": "<<restriction>>", "device": "<<device>>", "reason": "walk",
                                            "ends": "2001-01-01T00:00:00Z"}, outsider=422, mutates=True),
    ("GET", "/api/v1/exemptions/requests/{request_id}"): Probe(
        Permission.READ, "/api/v1/exemptions/requests/<<request>>", outsider=404),
    ("POST", "/api/v1/exemptions/requests/{request_id}/approve"): Probe(
        Permission.MANAGE, "/api/v1/exemptions/requests/<<request>>/approve", json={}, outsider=404, mutates=True),
    ("POST", "/api/v1/exemptions/requests/{request_id}/reject"): Probe(
        Permission.MANAGE, "/api/v1/exemptions/requests/<<request>>/reject", json={"reason": "walk"}, outsider=404,
        mutates=True),
    ("GET", "/api/v1/findings"): Probe(Permission.READ),
    ("GET", "/api/v1/reports"): Probe(Permission.READ, query={"organisation": "<<root>>"}, outsider=404),
    ("POST", "/api/v1/inventory/{format}"): Probe(
        Permission.PUSH_INVENTORY, "/api/v1/inventory/csv",
        content=csv_rows(("walk-phone", "android", SIGNAL, "2024-01-01T00:00:00Z", "corporate", "true", "<<org>>",
                          "")).decode(), outsider=422, mutates=True),
    ("GET", "/api/v1/tokens"): Probe(Permission.MANAGE_TOKENS),
    ("POST", "/api/v1/tokens"): Probe(
        Permission.MANAGE_TOKENS, json={"name": "walk", "role": "gate", "organisation": "<<org>>"}, outsider=422,
        mutates=True),
    ("GET", "/api/v1/tokens/{token_id}"): Probe(Permission.MANAGE_TOKENS, "/api/v1/tokens/<<token>>", outsider=404),
    ("DELETE", "/api/v1/tokens/{token_id}"): Probe(
        Permission.MANAGE_TOKENS, "/api/v1/tokens/<<token>>", outsider=404, mutates=True),
    ("GET", "/api/v1/audit"): Probe(Permission.READ_AUDIT),
    ("POST", "/api/v1/assessments"): Probe(
        Permission.ASSESS, query={"organisation": "<<org>>", "name": "walk.apk"}, content="not an app build",
        outsider=422, mutates=True),
    ("GET", "/api/v1/assessments"): Probe(Permission.READ),
    ("GET", "/api/v1/assessments/{assessment_id}"): Probe(
        Permission.READ, "/api/v1/assessments/<<assessment>>", outsider=404),
}
# Lists also take filters naming A's objects: answered as for objects that do not exist.
FILTER_PROBES: dict[str, Probe] = {
    "devices by organisation": Probe(Permission.READ, "/api/v1/devices", query={"organisation": "<<org>>"},
                                     outsider=404),
    "exemption requests by restriction": Probe(Permission.READ, "/api/v1/exemptions/requests",
                                               query={"restriction": "<<restriction>>"}),
    "findings by restriction": Probe(Permission.READ, "/api/v1/findings", query={"restriction": "<<restriction>>"}),
    "findings by device": Probe(Permission.READ, "/api/v1/findings", query={"device": "<<device>>"}),
    "exemptions by restriction": Probe(Permission.READ, "/api/v1/exemptions",
                                       query={"restriction": "<<restriction>>"}),
    "tokens by organisation": Probe(Permission.MANAGE_TOKENS, "/api/v1/tokens", query={"organisation": "<<org>>"},
                                    outsider=404),
    "devices by holder": Probe(Permission.READ, "/api/v1/devices", query={"holder": "<<holder>>"}),
    "organisations by parent": Probe(Permission.READ, "/api/v1/organisations", query={"parent": "<<root>>"}),
    "assessments by organisation": Probe(Permission.READ, "/api/v1/assessments", query={"organisation": "<<org>>"},
                                         outsider=404),
    "assessments by app": Probe(Permission.READ, "/api/v1/assessments", query={"app": TIKTOK}),
}


@pytest.fixture
def world(world: World) -> World:
    """The seeded world, and an assessment of A's (assessments are made from an uploaded build)."""
    build = apk(manifest(TIKTOK, permissions=["android.permission.CAMERA"]), who=signer())
    response = world.request("analyst-a", "POST", "/api/v1/assessments", content=build,
                             params={"organisation": world.a["org"], "name": "tiktok.apk"})
    assert response.status_code == 201, response.text
    world.a["assessment"] = response.json()["id"]
    world.ghost["assessment"] = "asm_0000000000000000"
    response = world.request("analyst-a", "POST", "/api/v1/exemptions/requests", json={
        "restriction": world.a["restriction"], "device": world.a["device"], "reason": "walked", "ends": TOMORROW})
    assert response.status_code == 201, response.text
    world.a["request"] = response.json()["id"]
    world.ghost["request"] = "exr-00000000"
    return world


def operations() -> set[tuple[str, str]]:
    with Database.open("sqlite://") as database:  # the document needs no schema
        document = create_api(database).openapi()
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item
            if method in ("get", "post", "put", "delete", "patch")}


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"<<(\w+)>>", lambda m: ids[m.group(1)], value)
    if isinstance(value, dict):
        return {fill(k, ids): fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def send(world: World, token: str | None, method: str, template: str, probe: Probe, ids: dict[str, str]) -> Any:
    options: dict[str, Any] = {"params": fill(probe.query, ids), "headers": fill(probe.headers, ids)}
    if probe.json is not None:
        options["json"] = fill(probe.json, ids)
    if probe.content is not None:
        options["content"] = fill(probe.content, ids).encode()
    return world.request(token, method, fill(probe.path or template, ids), **options)


def as_ghost(text: str, world: World) -> str:
    """A's answer with A's ids swapped for the ghost ids, longest first, in one pass."""
    pairs = sorted(((world.a[k], world.ghost[k]) for k in world.a), key=lambda p: -len(p[0]))
    pattern = re.compile("|".join(re.escape(a) for a, _ in pairs))
    mapping = dict(pairs)
    return pattern.sub(lambda m: mapping[m.group(0)], text)


def leaks(text: str, world: World) -> list[str]:
    """Whatever of A's shows in an answer: its organisations, devices, holders, tokens."""
    markers = ["eu-commission", "eu/phone", "ec.example.eu", *(world.token_ids[n] for n in world.token_ids
                                                                if n.endswith("-a"))]
    return [marker for marker in markers if marker in text]


def test_every_route_is_probed() -> None:
    assert operations() == set(PROBES), "every route needs a probe saying how it is scoped"


def test_no_route_hides_from_the_openapi_document() -> None:
    """A route left out of the document would escape these walks."""
    for path in SRC.rglob("*.py"):
        assert "include_in_schema" not in path.read_text(), path


def test_an_unrelated_admin_cannot_see_or_touch_anything_of_a(world: World) -> None:
    audit, devices = world.audit_count(), world.device_count()
    probes = [(method, path, probe) for (method, path), probe in PROBES.items() if probe.permission is not None]
    probes += [("GET", probe.path, probe) for probe in FILTER_PROBES.values()]
    for method, template, probe in probes:
        theirs = send(world, "admin-b", method, template, probe, world.a)
        nobody = send(world, "admin-b", method, template, probe, world.ghost)
        where = f"{method} {template} {probe.query}"
        assert theirs.status_code == probe.outsider, (where, theirs.status_code, theirs.text)
        assert nobody.status_code == theirs.status_code, (where, nobody.text, theirs.text)
        if theirs.headers["content-type"].startswith("application/json"):
            assert as_ghost(theirs.text, world) == nobody.text, (where, theirs.text, nobody.text)
        if "<<" not in repr(probe):  # nothing of A's was named: nothing of A's may come back
            assert not leaks(theirs.text, world), (where, leaks(theirs.text, world), theirs.text)
    assert (world.audit_count(), world.device_count()) == (audit, devices), "B's requests changed something"


def test_b_sees_its_own_and_what_binds_it(world: World) -> None:
    """The walk is not vacuous: B's token works, and sees B's device and the federal recommendation."""
    devices = world.get("admin-b", "/api/v1/devices").json()
    assert [d["id"] for d in devices["items"]] == ["leuven/phone-1"]
    restrictions = world.get("admin-b", "/api/v1/restrictions").json()["items"]
    assert [(r["id"], r["managed"]) for r in restrictions] == [("be-federal-tiktok-personal-2023", False)]
    organisations = world.get("admin-b", "/api/v1/organisations").json()
    assert [o["id"] for o in organisations["items"]] == ["be-leuven"]


def test_every_route_but_three_needs_a_token(world: World) -> None:
    for (method, template), probe in PROBES.items():
        response = send(world, None, method, template, probe, world.a)
        if template in PUBLIC_PATHS:
            assert response.status_code in (200, 503), (method, template)
            continue
        assert response.status_code == 401, (method, template, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer"), (method, template)
        assert response.json()["error"]["code"] == "unauthenticated"
    assert world.client.get("/openapi.json").status_code == 200
    assert {"/healthz", "/metrics", "/openapi.json"} == PUBLIC_PATHS


def test_a_malformed_or_unknown_token_is_401(world: World) -> None:
    for value in ("Bearer apb_" + "x" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer"):
        response = world.client.get("/api/v1/devices", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.headers["www-authenticate"].startswith("Bearer")


ROLES = {"gate-a": Role.GATE, "source-a": Role.SOURCE, "auditor-a": Role.AUDITOR, "analyst-a": Role.ANALYST}


def test_each_role_stops_where_its_permissions_stop(world: World) -> None:
    for token, role in ROLES.items():
        audit = world.audit_count()
        for (method, template), probe in PROBES.items():
            if probe.permission is None:
                continue
            response = send(world, token, method, template, probe, world.a)
            allowed = allows(role, probe.permission)
            if not allowed:
                assert response.status_code == 403, (token, method, template, response.text)
                assert response.json()["error"]["code"] == "forbidden"
            else:
                assert response.status_code not in (401, 403), (token, method, template, response.text)
        if role is not Role.SOURCE:  # the source's push is its one change, and imports are not audited
            assert world.audit_count() == audit, f"{token} changed something"


def test_read_only_roles_have_no_mutating_route() -> None:
    """Analysts change two things: they store assessments and ask for exemptions."""
    for role in (Role.AUDITOR, Role.ANALYST, Role.GATE):
        changes = [key for key, probe in PROBES.items() if probe.mutates and probe.permission is not None
                   and allows(role, probe.permission)]
        expected = [("POST", "/api/v1/exemptions/requests"), ("POST", "/api/v1/assessments")]
        assert changes == (expected if role is Role.ANALYST else []), role


def test_the_gate_role_has_nothing_on_the_api() -> None:
    assert not any(allows(Role.GATE, probe.permission) for probe in PROBES.values() if probe.permission)
