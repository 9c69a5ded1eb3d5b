"""Dashboard users: scrypt password hashes, the repository (audited), and `appban user create|list`."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from appban.access import Role
from appban.cli import app as cli
from appban.errors import Conflict, InvalidInput, NotFound
from appban.policy.organisations import parse_organisations
from appban.store import AuditLog, Database, OrganisationRepository, UserRepository, hash_password, verify_password

from .support import EXAMPLES

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
PASSWORD = "a long enough passphrase"


def _organisations(database: Database) -> None:
    organisations = [e.organisation for e in parse_organisations(
        (EXAMPLES / "organisations" / "organisations.yaml").read_text(), "organisations.yaml")]
    with database.session() as session:
        OrganisationRepository(session).apply(organisations, actor="tests", now=NOW)


def test_a_password_hash_is_scrypt_with_a_random_salt_and_its_parameters() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second  # salted
    scheme, n, r, p, salt, key = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert len(salt) >= 22 and len(key) >= 43
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "x", first)
    assert not verify_password(PASSWORD, first[:-2] + ("AA" if not first.endswith("AA") else "BB"))
    for broken in ("", "scrypt$1$2", "bcrypt$16384$8$1$abc$def", "scrypt$x$8$1$abc$def"):
        assert not verify_password(PASSWORD, broken)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_users_are_created_verified_listed_and_disabled_with_audit_entries(database: Database) -> None:
    _organisations(database)
    with database.session() as session:
        users = UserRepository(session)
        alice = users.create(username="alice", organisation="eu-commission", role=Role.ADMIN, password=PASSWORD,
                             actor="tests", now=NOW)
        users.create(username="bob", organisation="be-leuven", role=Role.AUDITOR, password=PASSWORD, actor="tests",
                     now=NOW)
    with database.session() as session:
        users = UserRepository(session)
        assert users.verify("alice", PASSWORD) == alice
        assert users.verify("alice", "wrong password here") is None
        assert users.verify("nobody", PASSWORD) is None
        assert [u.username for u in users.list()] == ["alice", "bob"]
        assert [u.username for u in users.list({"be-leuven"})] == ["bob"]
        users.disable(alice.id, actor="tests", now=NOW)
    with database.session() as session:
        users = UserRepository(session)
        assert users.verify("alice", PASSWORD) is None
        with pytest.raises(Conflict):
            users.disable(alice.id, actor="tests", now=NOW)
        entries = AuditLog(session).entries()
        assert [(e.event.value, e.subject) for e in entries[-3:]] == [
            ("user:create", alice.id), ("user:create", users.by_username("bob").id), ("user:disable", alice.id)]
        assert all(PASSWORD not in str(e.details) and "scrypt" not in str(e.details) for e in entries)
        assert AuditLog(session).verify() == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_bad_users_are_refused_with_reasons(database: Database) -> None:
    _organisations(database)
    with database.session() as session:
        users = UserRepository(session)
        with pytest.raises(InvalidInput) as caught:
            users.create(username="X", organisation="eu-commission", role=Role.GATE, password="short", actor="t",
                         now=NOW)
        assert len(caught.value.problems) == 3  # username, role, password
        with pytest.raises(NotFound):
            users.create(username="carol", organisation="nowhere", role=Role.ANALYST, password=PASSWORD, actor="t",
                         now=NOW)
        users.create(username="carol", organisation="eu-commission", role=Role.ANALYST, password=PASSWORD,
                     actor="t", now=NOW)
        with pytest.raises(Conflict):
            users.create(username="carol", organisation="be-leuven", role=Role.ANALYST, password=PASSWORD,
                         actor="t", now=NOW)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_user_create_and_list_on_the_command_line(database_url: str, database: Database) -> None:
    _organisations(database)
    runner = CliRunner()
    made = runner.invoke(cli, ["user", "create", "--org", "be-leuven", "--role", "admin", "--username", "leuven-it",
                               "--password-stdin", "--database", database_url], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    assert "admin of be-leuven" in made.output and PASSWORD not in made.output
    listed = runner.invoke(cli, ["user", "list", "--database", database_url])
    assert listed.exit_code == 0 and "leuven-it" in listed.output and "active" in listed.output
    again = runner.invoke(cli, ["user", "create", "--org", "be-leuven", "--role", "admin", "--username", "leuven-it",
                                "--password-stdin", "--database", database_url], input=PASSWORD + "\n")
    assert again.exit_code != 0 and "taken" in again.output
    with database.session() as session:
        assert UserRepository(session).verify("leuven-it", PASSWORD) is not None
