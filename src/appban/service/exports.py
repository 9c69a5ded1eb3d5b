"""Exports (docs/export.md): the restrictions in force for an organisation compiled for a device-management
system, the signed feed of an organisation's restrictions, and pulling such a feed into this appban.

The compiling is the pure `appban.export`; this module reads what it needs from the store inside the caller's
transaction, and stores what a pulled feed carries through the same steps as `appban policy apply` (the one
restriction parser, `RestrictionRepository.apply`, then the re-evaluation of the restrictions that changed), so
either every restriction of the feed is stored or none is.
"""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from appban.catalog import Catalog, default_catalog
from appban.compliance import Rule
from appban.errors import InvalidInput, NotFound
from appban.export import (
    MAX_FEED_BYTES,
    TARGETS,
    AmapiExporter,
    AppleExporter,
    BannedApp,
    Exporter,
    ExportInput,
    ExportOutput,
    ExportRestriction,
    Feed,
    FeedExporter,
    IntuneExporter,
)
from appban.model import App, ChildPolicy, Lifecycle
from appban.policy import OrganisationTree, read_batch
from appban.service.context import load_context
from appban.service.evaluation import Outcome, evaluate_rules
from appban.store import AppliedVersion, ApplyOutcome, OrganisationRepository, RestrictionRepository

__all__ = ["FeedPull", "export_restrictions", "pull_feed", "read_feed_source"]

FETCH_TIMEOUT_SECONDS = 30


@dataclass(frozen=True, slots=True)
class FeedPull:
    """What pulling a feed did: the versions stored and the recommended restrictions the child can adopt."""

    issuer: str
    key_id: str
    applied: tuple[AppliedVersion, ...]
    recommended: tuple[str, ...]
    outcome: Outcome


def export_restrictions(session: Session, target: str, organisation: str | None, *, now: dt.datetime,
                        private_key: Ed25519PrivateKey | None = None, catalog: Catalog | None = None,
                        issued_at: str | None = None) -> ExportOutput:
    """Compile for `target` (`amapi`, `intune`, `apple`: the restrictions in force that bind `organisation`'s
    devices, or every organisation's when None; `feed`: the restrictions `organisation` issued, signed with
    `private_key`)."""
    if target not in TARGETS:
        raise InvalidInput.at("--to", f"no export target {target!r}", hint="use " + ", ".join(TARGETS))
    organisations = {o.id: o for o in OrganisationRepository(session).all()}
    if organisation is not None and organisation not in organisations:
        raise NotFound(f"no organisation `{organisation}`: `appban org list` shows them")
    name = organisations[organisation].name if organisation is not None else "every organisation"
    if target == "feed":
        if private_key is None:
            raise InvalidInput.at("--key", "a feed is signed: give the private key file",
                                  hint="create one with `appban feed keygen -o KEYFILE`")
        if organisation is None:
            raise InvalidInput.at("--org", "a feed holds one organisation's restrictions",
                                  hint="name the issuing organisation with --org")
        return FeedExporter(private_key).export(ExportInput(organisation, name, _issued(session, organisation),
                                                            issued_at=issued_at))
    context = load_context(session, catalog or default_catalog())
    rules = [context.rules[rid] for rid in sorted(context.rules)]
    chosen = tuple(_export_restriction(rule, context.catalog) for rule in rules
                   if rule.in_force(now) and (organisation is None or organisation in rule.binding))
    exporters: dict[str, Exporter] = {"amapi": AmapiExporter(), "intune": IntuneExporter(),
                                      "apple": AppleExporter()}
    exporter = exporters[target]
    return exporter.export(ExportInput(organisation, name, chosen, issued_at=issued_at))


def read_feed_source(location: str, *, max_bytes: int = MAX_FEED_BYTES) -> bytes:
    """The bytes of a feed from an https URL or a local file, refused past `max_bytes`."""
    parsed = urllib.parse.urlsplit(location)
    if parsed.scheme == "https":
        request = urllib.request.Request(location, headers={"Accept": "application/json"})  # noqa: S310 (https only)
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
                data: bytes = response.read(max_bytes + 1)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise InvalidInput.at(location, f"cannot fetch the feed: {getattr(error, 'reason', error)}") from None
    elif parsed.scheme in {"", "file"}:
        path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else location)
        try:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except FileNotFoundError:
            raise InvalidInput.at(location, "no such file") from None
        except OSError as error:
            raise InvalidInput.at(location, f"cannot read: {error.strerror}") from None
    else:
        raise InvalidInput.at(location, f"cannot fetch a feed over {parsed.scheme}",
                              hint="give an https:// URL or a file path")
    if len(data) > max_bytes:
        raise InvalidInput.at(location, f"feed is larger than {max_bytes} bytes")
    return data


def pull_feed(session: Session, feed: Feed, organisation: str, *, source: str, actor: str, now: dt.datetime,
              catalog: Catalog | None = None) -> FeedPull:
    """Store a verified feed's restrictions for the child `organisation` of its issuer, all or none."""
    stored = OrganisationRepository(session).all()
    tree = OrganisationTree(stored)
    if feed.issuer not in tree:
        raise InvalidInput.at(source, f"the feed's issuer `{feed.issuer}` ({feed.issuer_name}) is not a stored "
                              "organisation", hint="apply the organisations file that holds it first")
    if organisation not in tree:
        raise NotFound(f"no organisation `{organisation}`: `appban org list` shows them")
    if organisation == feed.issuer or not tree.is_within(organisation, feed.issuer):
        raise InvalidInput.at("--org", f"`{organisation}` is not a child organisation of `{feed.issuer}`",
                              hint="pull a feed for an organisation below its issuer")
    catalog = catalog or default_catalog()
    batch = read_batch([(f"{source}#{r.id}", r.text) for r in feed.restrictions], known=stored, catalog=catalog)
    if batch.organisations:
        raise InvalidInput.at(source, "a feed carries restrictions only, not organisations")
    for entry, parsed in zip(feed.restrictions, batch.restrictions, strict=True):
        restriction = parsed.restriction
        if restriction.issuer != feed.issuer or restriction.id != entry.id:
            raise InvalidInput.at(parsed.source, f"`{restriction.id}` of `{restriction.issuer}` does not belong "
                                  f"in a feed of `{feed.issuer}` listed as `{entry.id}`",
                                  hint="the issuer's appban wrote an unexpected feed")
    restrictions = RestrictionRepository(session)
    applied = tuple(restrictions.apply(parsed, actor=actor, now=now, source_path=parsed.source)
                    for parsed in batch.restrictions)
    changed = [a.id for a in applied if a.outcome is not ApplyOutcome.UNCHANGED]
    outcome = Outcome()
    if changed:
        outcome = evaluate_rules(session, load_context(session, catalog), changed, now)
    recommended = tuple(sorted(p.restriction.id for p in batch.restrictions
                               if p.restriction.children is ChildPolicy.RECOMMENDED))
    return FeedPull(issuer=feed.issuer, key_id=feed.key_id, applied=applied, recommended=recommended,
                    outcome=outcome)


def _issued(session: Session, organisation: str) -> tuple[ExportRestriction, ...]:
    """The latest version of every restriction `organisation` issued, drafts excepted (revocations travel)."""
    out: list[ExportRestriction] = []
    for item in RestrictionRepository(session).all_latest():
        r = item.restriction
        if r.issuer != organisation or r.status is Lifecycle.DRAFT:
            continue
        out.append(ExportRestriction(id=r.id, version=item.version, issuer=r.issuer, title=r.title,
                                     strictness=r.strictness, grace=r.grace, shadow=r.shadow,
                                     rationale=r.rationale, children=r.children, text=item.text,
                                     devices=r.scope.devices.describe()))
    return tuple(out)


def _export_restriction(rule: Rule, catalog: Catalog) -> ExportRestriction:
    r = rule.restriction
    return ExportRestriction(id=r.id, version=rule.version, issuer=r.issuer, title=r.title,
                             strictness=r.strictness, banned=tuple(sorted(_banned(a, catalog) for a in rule.banned)),
                             grace=r.grace, devices=r.scope.devices.describe(), shadow=r.shadow,
                             rationale=r.rationale, children=r.children)


def _banned(app: App, catalog: Catalog) -> BannedApp:
    family = catalog.family_of(app)
    if family is None:
        return BannedApp(app)
    publisher = catalog.publishers.get(family.publisher)
    return BannedApp(app, name=family.name, publisher=publisher.name if publisher is not None else "")

