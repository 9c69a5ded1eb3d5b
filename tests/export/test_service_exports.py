"""The service functions on a real store: what each target is given, and a pulled feed stored all or none."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appban.catalog import default_catalog
from appban.errors import InvalidInput
from appban.export import ExportInput, ExportRestriction, FeedExporter, verify_feed
from appban.model import ChildPolicy, Strictness
from appban.policy import read_batch
from appban.service import export_restrictions, pull_feed
from appban.store import Database, OrganisationRepository, RestrictionRepository

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = dt.datetime(2023, 4, 1, 12, tzinfo=dt.UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(f"sqlite:///{tmp_path / 'appban.db'}")
    database.upgrade()
    files = [EXAMPLES / "organisations" / "organisations.yaml", *sorted((EXAMPLES / "restrictions").glob("*.yaml"))]
    with database.session() as session:
        organisations = OrganisationRepository(session)
        batch = read_batch([(str(f), f.read_text()) for f in files], known=[], catalog=default_catalog())
        organisations.apply([e.organisation for e in batch.organisations], actor="t", now=NOW)
        for parsed in batch.restrictions:
            RestrictionRepository(session).apply(parsed, actor="t", now=NOW, source_path=parsed.source)
    yield database
    database.dispose()


def test_mdm_exports_take_the_restrictions_in_force_that_bind_the_organisation(db: Database) -> None:
    with db.session() as session:
        commission = json.loads(export_restrictions(session, "amapi", "eu-commission-dg-digit", now=NOW).content)
        belgium = export_restrictions(session, "amapi", "be-federal", now=NOW)
        later = export_restrictions(session, "amapi", "be-federal", now=NOW.replace(year=2024))
        everyone = export_restrictions(session, "intune", None, now=NOW)
    assert "com.zhiliaoapp.musically" in {e["packageName"] for e in commission["applications"]}  # mandatory: inherited
    assert "com.zhiliaoapp.musically" in belgium.content.decode()
    assert json.loads(later.content)["applications"] == []  # expired on 10 September 2023
    description = json.loads(everyone.content)["description"]
    assert "eu-commission-tiktok-2023" in description and "be-federal-tiktok-2023" in description


def test_the_feed_holds_what_the_issuer_issued(db: Database) -> None:
    with db.session() as session:
        output = export_restrictions(session, "feed", "be-federal", now=NOW, private_key=KEY)
        stored = RestrictionRepository(session).latest("be-federal-tiktok-2023")
    feed = verify_feed(output.content, KEY.public_key(), "feed")
    assert [r.id for r in feed.restrictions] == ["be-federal-tiktok-2023", "be-federal-tiktok-personal-2023"]
    assert stored is not None and feed.restrictions[0].text == stored.text


def _signed(*restrictions: ExportRestriction, issuer: str = "be-federal") -> bytes:
    return FeedExporter(KEY).export(ExportInput(issuer, issuer, restrictions)).content


def test_a_feed_entry_of_another_issuer_stores_nothing(db: Database) -> None:
    text = (EXAMPLES / "restrictions" / "be-federal-tiktok-2023.yaml").read_text()
    good = ExportRestriction(id="be-federal-tiktok-2023", version=1, issuer="be-federal", title="t",
                             strictness=Strictness.REQUIRE, children=ChildPolicy.RECOMMENDED,
                             text=text.replace("grace: 14d", "grace: 21d"))
    smuggled = ExportRestriction(id="be-federal-x", version=1, issuer="be-federal", title="t",
                                 strictness=Strictness.REQUIRE,
                                 text=(EXAMPLES / "restrictions" / "us-federal-tiktok-2022.yaml").read_text())
    feed = verify_feed(_signed(good, smuggled), KEY.public_key(), "feed")
    with pytest.raises(InvalidInput, match="does not belong in a feed of `be-federal`"), db.session() as session:
        pull_feed(session, feed, "be-gent", source="feed", actor="t", now=NOW)
    with db.session() as session:
        latest = RestrictionRepository(session).latest("be-federal-tiktok-2023")
    assert latest is not None and latest.version == 1  # the good entry was not stored either


def test_a_changed_text_becomes_the_next_version(db: Database) -> None:
    text = (EXAMPLES / "restrictions" / "be-federal-tiktok-2023.yaml").read_text().replace("grace: 14d", "grace: 21d")
    entry = ExportRestriction(id="be-federal-tiktok-2023", version=2, issuer="be-federal", title="t",
                              strictness=Strictness.REQUIRE, children=ChildPolicy.RECOMMENDED, text=text)
    feed = verify_feed(_signed(entry), KEY.public_key(), "feed")
    with db.session() as session:
        pulled = pull_feed(session, feed, "be-flanders", source="feed", actor="t", now=NOW)
    assert [(a.id, a.version, str(a.outcome)) for a in pulled.applied] == [
        ("be-federal-tiktok-2023", 2, "new_version")]
    assert pulled.recommended == ("be-federal-tiktok-2023",)


def test_a_feed_of_an_unknown_issuer_is_refused(db: Database) -> None:
    feed = verify_feed(_signed(issuer="fr-state"), KEY.public_key(), "feed")
    with pytest.raises(InvalidInput, match="issuer `fr-state`"), db.session() as session:
        pull_feed(session, feed, "be-gent", source="feed", actor="t", now=NOW)
