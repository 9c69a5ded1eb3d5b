"""`appban ...`: the command line, a thin shell over the policy core and the store.

Exit status: 0 done, 1 ran fine but found something that needs attention (due reviews, a broken audit
chain), 2 bad input (every problem printed as `FILE:LINE:COLUMN: what is wrong (what to do)`).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import getpass
import io
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, BinaryIO, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.tree import Tree

from appban import __version__
from appban.access import Role, TokenInfo
from appban.audit import AuditEntry, AuditEvent
from appban.catalog import default_catalog
from appban.demo import DEFAULT_SEED, DEFAULT_WEEKS, DEMO_URL, MAX_WEEKS, DemoResult, build_demo, state_counts
from appban.errors import AppbanError, InvalidInput, Location, NotFound, Problem
from appban.export import TARGETS as EXPORT_TARGETS
from appban.export import generate_key as generate_feed_key
from appban.export import load_private_key, load_public_key, verify_feed
from appban.gate.links import PAGE_PREFIX, Links
from appban.gate.seals import DecisionSeal, SealCheck, check_lines
from appban.inventory import FORMATS, InventoryFormat, ReportDefaults, inventory_format, read_holder_map
from appban.inventory.records import parse_timestamp
from appban.merkle import (
    Checkpoint,
    consistency_proof,
    inclusion_proof,
    read_checkpoint,
    sign_checkpoint,
    tree_root,
)
from appban.model import (
    ChildPolicy,
    Exemption,
    FindingState,
    Funding,
    Organisation,
    Ownership,
    Platform,
    Restriction,
    Target,
    TargetKind,
)
from appban.notify import transport_from_env
from appban.policy import (
    MAX_DOCUMENT_BYTES,
    OrganisationTree,
    PolicyBatch,
    PolicySet,
    due,
    lifecycle,
    parse_policy_text,
    read_batch,
)
from appban.policy.restriction import ParsedRestriction
from appban.risk import Assessment, AssessmentDiff, WorkNeed, to_html, to_markdown
from appban.risk import assess as assess_app
from appban.risk import to_json as risk_json
from appban.server import PUBLIC_URL_VARIABLE, SECRET_VARIABLE, Settings
from appban.server import serve as run_server
from appban.service import (
    OWNERS_VARIABLE,
    CheckpointSchedule,
    ImportSummary,
    Report,
    Scheduler,
    assign_holders,
    compare_with_previous,
    compliance_report,
    evaluate_pairs,
    evaluate_rules,
    export_restrictions,
    impact,
    import_stream,
    load_context,
    parse_owners,
    pull_feed,
    read_feed_source,
    refresh_due,
    store_assessment,
)
from appban.store import (
    URL_VARIABLE,
    AdoptionRepository,
    AssessmentRecord,
    AssessmentRepository,
    AuditLog,
    Database,
    DeviceRepository,
    ExemptionRepository,
    OrganisationRepository,
    RestrictionRepository,
    StoredRestriction,
    TokenRepository,
    UserRepository,
    database_url,
)

app = typer.Typer(name="appban", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Assess risky apps, decide restrictions, enforce them on devices, prove compliance.")
policy_app = typer.Typer(no_args_is_help=True, help="Restrictions as code: check, apply, list, review.")
org_app = typer.Typer(no_args_is_help=True, help="The organisation hierarchy.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log: hash chain, Merkle tree, signed checkpoints.")
db_app = typer.Typer(no_args_is_help=True, help="The database schema.")
exemption_app = typer.Typer(no_args_is_help=True, help="Devices or holders excused from a restriction.")
app.add_typer(policy_app, name="policy")
app.add_typer(org_app, name="org")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(exemption_app, name="exemption")
token_app = typer.Typer(no_args_is_help=True, help="API tokens: create (the secret is shown once), list, revoke.")
app.add_typer(token_app, name="token")
holders_app = typer.Typer(no_args_is_help=True, help="Who holds which device (where notices go).")
app.add_typer(holders_app, name="holders")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DatabaseOption = Annotated[str | None, typer.Option(
    "--database", "-d", help="Database URL (default: $APPBAN_DATABASE_URL, else sqlite:///appban.db).",
    show_default=False)]
FilesArgument = Annotated[list[Path], typer.Argument(help="Policy files (YAML).", show_default=False)]
InventoryFilesArgument = Annotated[list[Path], typer.Argument(
    help="Inventory files exported from the device-management system.", show_default=False)]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table or json.")]


def main() -> None:
    """Console-script entry point."""
    app()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        out.print(f"appban {__version__}")
        raise typer.Exit(0)


# --- policy -----------------------------------------------------------------------------------------------


@policy_app.command("check")
def policy_check(files: FilesArgument, database: DatabaseOption = None) -> None:
    """Validate policy files, reporting every problem at once. Stores nothing."""
    with _errors_exit():
        batch = _read_batch(files, _stored_organisations(database))
    out.print(f"ok: {len(batch.restrictions)} restriction(s), {len(batch.organisations)} organisation(s) "
              f"in {len(files)} file(s)")


@policy_app.command("apply")
def policy_apply(files: FilesArgument, database: DatabaseOption = None) -> None:
    """Store organisations and restrictions; an unchanged file is a no-op, a changed one a new version."""
    actor = _actor()
    now = _now()
    with _errors_exit(), _database(database) as db, db.session() as session:
        organisations = OrganisationRepository(session)
        batch = _read_batch(files, organisations.all())
        if batch.organisations:
            counts = organisations.apply([e.organisation for e in batch.organisations], actor=actor, now=now)
            out.print(f"organisations: {counts.created} created, {counts.updated} updated, "
                      f"{counts.unchanged} unchanged")
        restrictions = RestrictionRepository(session)
        changed: list[str] = []
        table = Table(box=None)
        table.add_column("restriction", no_wrap=True)
        table.add_column("version", no_wrap=True)
        table.add_column("outcome", no_wrap=True)
        table.add_column("file", overflow="fold")
        for parsed in batch.restrictions:
            applied = restrictions.apply(parsed, actor=actor, now=now, source_path=parsed.source)
            table.add_row(applied.id, str(applied.version), str(applied.outcome), parsed.source)
            if str(applied.outcome) != "unchanged":
                changed.append(applied.id)
        if batch.restrictions:
            out.print(table)
        if batch.organisations or changed:
            context = load_context(session)
            outcome = evaluate_rules(session, context, context.rules if batch.organisations else changed, now)
            out.print(f"findings: {outcome.changes} changed" + _states_text(outcome.states))


@policy_app.command("list")
def policy_list(database: DatabaseOption = None, fmt: FormatOption = "table",
                today: Annotated[str | None, typer.Option(help="Evaluate as of this date (YYYY-MM-DD).")] = None,
                ) -> None:
    """The stored restrictions (latest versions) and their state today."""
    with _errors_exit():
        day = _day(today)
    with _errors_exit(), _database(database) as db, db.session() as session:
        stored = RestrictionRepository(session).all_latest()
    if fmt == "json":
        out.print_json(json.dumps([_restriction_json(s, day) for s in stored]))
        return
    _require_table(fmt)
    table = Table(box=None)
    table.add_column("id", no_wrap=True)
    for column in ("v", "issuer", "state", "strictness"):
        table.add_column(column, no_wrap=True)
    for column in ("effective", "review", "expires"):
        table.add_column(column, no_wrap=True)
    for item in stored:
        r = item.restriction
        table.add_row(r.id, str(item.version), r.issuer, str(lifecycle(r, day)), str(r.strictness),
                      str(r.effective), _date_text(r.review), _date_text(r.expires))
    out.print(table if stored else "no restrictions stored yet: run `appban policy apply FILE...`")


@policy_app.command("show")
def policy_show(restriction_id: Annotated[str, typer.Argument(help="Restriction id.")],
                database: DatabaseOption = None) -> None:
    """One restriction: what it says now, and every version applied."""
    with _errors_exit(), _database(database) as db, db.session() as session:
        history = RestrictionRepository(session).history(restriction_id)
        if not history:
            raise NotFound(f"no restriction `{restriction_id}`: `appban policy list` shows the stored ones")
        adopters = AdoptionRepository(session).adopters(restriction_id)
    latest = history[-1].restriction
    out.print(f"[bold]{latest.id}[/bold]: {latest.title}")
    out.print(f"issuer {latest.issuer}; {latest.strictness}; targets {_targets_text(latest.targets)}")
    out.print(f"scope: {', '.join(sorted(latest.scope.organisations))}; {latest.scope.devices.describe()}")
    if latest.cuts:
        out.print(f"cuts {', '.join(sorted(latest.cuts))} {latest.grace.days} days after a device is first seen "
                  "breaking it")
    if latest.children is ChildPolicy.RECOMMENDED:
        out.print(f"recommended to child organisations; adopted by: {', '.join(sorted(adopters)) or 'none yet'}")
    table = Table("version", "applied", "by", "status", "file", "sha256", box=None)
    for item in history:
        table.add_row(str(item.version), item.applied_at.isoformat(timespec="seconds"), item.applied_by,
                      str(item.restriction.status), item.source_path, item.content_hash[:12])
    out.print(table)


@policy_app.command("due")
def policy_due(database: DatabaseOption = None,
               within: Annotated[int, typer.Option(help="Days ahead to look.", min=0, max=3650)] = 30,
               today: Annotated[str | None, typer.Option(help="As of this date (YYYY-MM-DD).")] = None,
               fmt: FormatOption = "table") -> None:
    """Restrictions whose review or expiry date is near (or whose review is overdue). Exit 1 if any."""
    with _errors_exit():
        day = _day(today)
    with _errors_exit(), _database(database) as db, db.session() as session:
        stored = [s.restriction for s in RestrictionRepository(session).all_latest()]
    items = due(stored, day, dt.timedelta(days=within))
    if fmt == "json":
        out.print_json(json.dumps([{"restriction": d.restriction.id, "kind": str(d.kind), "date": str(d.date),
                                    "days_left": d.days_left} for d in items]))
    else:
        _require_table(fmt)
        if not items:
            out.print(f"nothing due within {within} days of {day}")
        table = Table("restriction", "due", "date", "when", "issuer", box=None)
        for item in items:
            when = f"{-item.days_left} days overdue" if item.overdue else f"in {item.days_left} days"
            table.add_row(item.restriction.id, str(item.kind), str(item.date), when, item.restriction.issuer)
        if items:
            out.print(table)
    raise typer.Exit(1 if items else 0)


@policy_app.command("adopt")
def policy_adopt(restriction_id: Annotated[str, typer.Argument(help="A recommended restriction's id.")],
                 org: Annotated[str, typer.Option("--org", help="The child organisation deciding.")],
                 decline: Annotated[bool, typer.Option("--decline", help="Record a refusal instead.")] = False,
                 note: Annotated[str, typer.Option(help="Why, in a sentence.")] = "",
                 database: DatabaseOption = None) -> None:
    """Record a child organisation's adoption (or refusal) of a recommended restriction."""
    with _errors_exit(), _database(database) as db, db.session() as session:
        latest = RestrictionRepository(session).latest(restriction_id)
        if latest is None:
            raise NotFound(f"no restriction `{restriction_id}`: `appban policy list` shows the stored ones")
        restriction = latest.restriction
        tree = OrganisationTree(OrganisationRepository(session).all())
        _check_adopter(restriction, org, tree)
        AdoptionRepository(session).record(restriction_id, org, adopted=not decline, actor=_actor(), now=_now(),
                                           note=note)
    out.print(f"{org} {'declined' if decline else 'adopted'} {restriction_id}")


@policy_app.command("impact")
def policy_impact(file: Annotated[Path, typer.Argument(help="A restriction file (draft or edited).")],
                  database: DatabaseOption = None, fmt: FormatOption = "table",
                  limit: Annotated[int, typer.Option(help="Devices to list.", min=0)] = 50) -> None:
    """What-if: which organisations, devices and holders a restriction would affect. Stores nothing."""
    with _errors_exit(), _database(database) as db, db.session() as session:
        context = load_context(session)
        text = _read_text(file)
        parsed = parse_policy_text(text, str(file), PolicySet(context.tree, context.catalog))
        if not isinstance(parsed, ParsedRestriction):
            raise InvalidInput.at(str(file), "this is an organisations file, not a restriction", line=1, column=1)
        result = impact(session, context, parsed.restriction, _now())
        session.rollback()
    totals = result.summary.totals()
    if fmt == "json":
        out.print_json(json.dumps({
            "restriction": result.restriction, "totals": dict(totals),
            "by_organisation": {org: dict(c) for org, c in sorted(result.summary.by_organisation.items())},
            "devices": [{"device": a.device, "organisation": a.organisation, "holder": a.holder,
                         "state": str(a.state), "reason": a.reason, "apps": list(a.apps)} for a in result.affected],
        }))
        return
    _require_table(fmt)
    out.print(f"[bold]{result.restriction}[/bold] would cover {sum(totals.values())} device(s):"
              + _states_text(totals))
    out.print(_state_table(result.summary.by_organisation))
    if result.affected:
        table = Table("device", "organisation", "holder", "state", "why", box=None, title="devices affected")
        for row in result.affected[:limit]:
            table.add_row(row.device, row.organisation, row.holder or "-", str(row.state), row.reason)
        out.print(table)
        if len(result.affected) > limit:
            out.print(f"... and {len(result.affected) - limit} more (--limit, or --format json for all)")


# --- inventory, report ----------------------------------------------------------------------------------


@app.command("import")
def import_inventory(
    files: InventoryFilesArgument,
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(sorted(FORMATS))}.")],
    org: Annotated[str | None, typer.Option("--org", help="Organisation of devices the file does not place.")] = None,
    ownership: Annotated[Ownership | None, typer.Option(help="Default ownership.")] = None,
    funding: Annotated[Funding | None, typer.Option(help="Default funding (else corporate: full, personal: none).")
                       ] = None,
    enrolled: Annotated[bool | None, typer.Option("--enrolled/--not-enrolled", help="Default enrolment.",
                                                  show_default=False)] = None,
    observed_at: Annotated[str | None, typer.Option(help="Report time for formats without one (RFC 3339).")] = None,
    platform: Annotated[Platform | None, typer.Option(help="apple-mdm only: ios, ipados or macos (default ios).")
                        ] = None,
    database: DatabaseOption = None,
) -> None:
    """Import inventory files from a device-management system; findings are current when it returns.

    Each file is imported completely or not at all.
    """
    with _errors_exit():
        source = inventory_format(fmt, platform)
        defaults = ReportDefaults(organisation=org, ownership=ownership, funding=funding, enrolled=enrolled,
                                  observed_at=_timestamp(observed_at, "--observed-at") if observed_at else None)
    failed = 0
    with _errors_exit(), _database(database) as db:
        for path in files:
            try:
                summary = _import_one(db, source, path, defaults)
            except InvalidInput as error:
                failed += 1
                _print_refused(path, error)
                continue
            _print_import(summary)
    if failed:
        raise typer.Exit(2)


@holders_app.command("import")
def holders_import(
    files: Annotated[list[Path], typer.Argument(help="Holder maps: CSV with device_id,holder_email[,holder_name,"
                                                 "language] (docs/inventory.md).")],
    database: DatabaseOption = None,
) -> None:
    """Assign devices to holders; each file completely or not at all; findings follow at once."""
    failed = 0
    with _errors_exit(), _database(database) as db:
        for path in files:
            try:
                with db.session() as session, _open_regular(path) as stream:
                    assignments = read_holder_map(stream, str(path))
                    summary = assign_holders(session, load_context(session), assignments, source=str(path),
                                             actor=_actor(), now=_now())
            except InvalidInput as error:
                failed += 1
                _print_refused(path, error)
                continue
            out.print(f"{path}: {summary.assigned} device(s) assigned, {summary.changed} changed, "
                      f"{summary.new_holders} new holder(s); findings: {summary.outcome.changes} changed"
                      + _states_text(summary.outcome.states), markup=False)
    if failed:
        raise typer.Exit(2)


def _print_refused(path: Path, error: InvalidInput) -> None:
    for problem in error.problems:
        err.print(str(problem), markup=False)
    err.print(f"{path}: nothing imported from this file", markup=False)


def _open_regular(path: Path) -> BinaryIO:
    if not path.is_file():
        raise InvalidInput.at(str(path), "no such file" if not path.exists() else "not a regular file")
    return path.open("rb")


@app.command("worker")
def worker(once: Annotated[bool, typer.Option("--once", help="Run one round and exit.")] = False,
           interval: Annotated[float, typer.Option(help="Seconds between rounds.", min=1.0)] = 60.0,
           checkpoint_key: Annotated[Path | None, typer.Option(
               help="Sign a checkpoint of the audit log on a schedule with this Ed25519 key (`feed keygen`).")] = None,
           checkpoint_dir: Annotated[Path | None, typer.Option(
               help="Publish each checkpoint as a file in this directory (somewhere the operator cannot rewrite).")
           ] = None,
           checkpoint_url: Annotated[str | None, typer.Option(
               help="Publish each checkpoint by HTTP POST (text/plain) to this URL.")] = None,
           checkpoint_every: Annotated[float, typer.Option(
               help="Minutes between checkpoints (one is made only when the log grew).", min=1.0)] = 60.0,
           database: DatabaseOption = None) -> None:
    """Apply what time changes (deadlines, stale inventories, expiries), send the notices due (docs/notices.md) and,
    given a key, publish signed checkpoints of the audit log (docs/audit.md)."""
    with _errors_exit():
        try:
            transport = transport_from_env()
            owners = parse_owners(os.environ.get(OWNERS_VARIABLE, ""))
        except ValueError as error:
            raise InvalidInput.at("environment", str(error)) from None
        link = _remediation_links()
        checkpoints = None
        if checkpoint_key is not None:
            if checkpoint_dir is None and checkpoint_url is None:
                raise InvalidInput.at("--checkpoint-key", "checkpoints need somewhere to go",
                                      hint="add --checkpoint-dir DIR or --checkpoint-url URL")
            if checkpoint_url is not None and not checkpoint_url.startswith(("https://", "http://")):
                raise InvalidInput.at("--checkpoint-url", f"{checkpoint_url!r} is not an http(s) URL")
            checkpoints = CheckpointSchedule(load_private_key(_read_key_file(checkpoint_key), str(checkpoint_key)),
                                             dt.timedelta(minutes=checkpoint_every), directory=checkpoint_dir,
                                             url=checkpoint_url)
        elif checkpoint_dir is not None or checkpoint_url is not None:
            raise InvalidInput.at("--checkpoint-key", "a checkpoint destination was given without the key that signs",
                                  hint="add --checkpoint-key FILE (`appban feed keygen -o FILE` makes one)")
    if transport is None:
        err.print("warning: neither APPBAN_SMTP_HOST nor APPBAN_WEBHOOK_URL is set: notices are queued, not sent",
                  markup=False)
    with _errors_exit(), _database(database) as db:
        scheduler = Scheduler(db, transport=transport, link=link, owners=owners, checkpoints=checkpoints)
        if once:
            result = scheduler.run_once()
            out.print(f"{result.transitions} finding(s) moved on, {result.enqueued} notice(s) queued, "
                      f"{result.sent} sent, {result.retried} to retry, {result.dead} dead"
                      + (", audit checkpoint published" if result.checkpoint else "")
                      + (" (another worker held the transitions lock)" if result.locked_out else ""))
            return
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        try:
            scheduler.run(interval)
        except KeyboardInterrupt:
            scheduler.stop()


def _remediation_links() -> Callable[[str], str]:
    """Links to holders' remediation pages, signed like the server's (APPBAN_SECRET, APPBAN_PUBLIC_URL)."""
    public_url = (os.environ.get(PUBLIC_URL_VARIABLE) or Settings().public_url).rstrip("/")
    secret = os.environ.get(SECRET_VARIABLE, "")
    if not secret:
        err.print(f"warning: {SECRET_VARIABLE} is not set: notices link to the general remediation page",
                  markup=False)
        return lambda device_id: public_url + PAGE_PREFIX
    try:
        links = Links(secret.encode())
    except ValueError as error:
        raise InvalidInput.at(SECRET_VARIABLE, str(error)) from None
    return lambda device_id: public_url + links.path(device_id)


@app.command("report")
def report(org: Annotated[str | None, typer.Option("--org", help="Organisation subtree (default: all).")] = None,
           fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")] = "table",
           days: Annotated[int, typer.Option(help="Days of trend.", min=1, max=3650)] = 30,
           database: DatabaseOption = None) -> None:
    """Compliance per organisation subtree: devices per state per restriction, top apps, stale devices, trend."""
    now = _now()
    with _errors_exit(), _database(database) as db, db.session() as session:
        context = load_context(session)
        if org is not None and org not in context.tree:
            raise NotFound(f"no organisation `{org}`: `appban org list` shows them")
        refresh_due(session, context, now)  # deadlines passed since the last command move first
        result = compliance_report(session, context, org, now, days=days)
    if fmt == "json":
        out.print_json(json.dumps(_report_json(result)))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["restriction", "organisation", *[str(s) for s in FindingState]])
        for summary in result.restrictions:
            for organisation, counts in sorted(summary.by_organisation.items()):
                writer.writerow([summary.restriction, organisation, *[counts[str(s)] for s in FindingState]])
    else:
        _require_table(fmt)
        _print_report(result)


# --- organisations ----------------------------------------------------------------------------------------


@org_app.command("apply")
def org_apply(files: FilesArgument, database: DatabaseOption = None) -> None:
    """Create or update organisations from organisations files."""
    with _errors_exit(), _database(database) as db, db.session() as session:
        repository = OrganisationRepository(session)
        batch = _read_batch(files, repository.all())
        if batch.restrictions:
            first = batch.restrictions[0]
            raise InvalidInput.at(first.source, "this is a restriction, not an organisations file",
                                  line=1, column=1, hint="use `appban policy apply` for restrictions")
        counts = repository.apply([e.organisation for e in batch.organisations], actor=_actor(), now=_now())
    out.print(f"organisations: {counts.created} created, {counts.updated} updated, {counts.unchanged} unchanged")


@org_app.command("list")
def org_list(database: DatabaseOption = None, fmt: FormatOption = "table") -> None:
    """The organisation tree."""
    with _errors_exit(), _database(database) as db, db.session() as session:
        organisations = OrganisationRepository(session).all()
    if fmt == "json":
        out.print_json(json.dumps([{"id": o.id, "name": o.name, "parent": o.parent, "kind": o.kind,
                                    "country": o.country} for o in organisations]))
        return
    _require_table(fmt)
    tree = OrganisationTree(organisations)
    if not organisations:
        out.print("no organisations yet: run `appban org apply FILE`")
    for root in tree.roots():
        view = Tree(_org_label(tree.organisations[root]))
        _grow(view, root, tree)
        out.print(view)


@exemption_app.command("grant")
def exemption_grant(
    restriction_id: Annotated[str, typer.Option("--restriction", "-r", help="The restriction excused.")],
    reason: Annotated[str, typer.Option(help="Why, in words the auditor will read.")],
    approver: Annotated[str, typer.Option(help="Who approved it.")],
    until: Annotated[str, typer.Option(help="Last day (YYYY-MM-DD) or time (RFC 3339) it holds.")],
    device: Annotated[str | None, typer.Option(help="A device id.")] = None,
    holder: Annotated[str | None, typer.Option(help="A holder's e-mail: all their devices.")] = None,
    exemption_id: Annotated[str | None, typer.Option("--id", help="Id (default: generated).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Excuse one device or one holder from one restriction until a date; findings follow at once."""
    now = _now()
    with _errors_exit():
        if (device is None) == (holder is None):
            raise InvalidInput.at("--device/--holder", "name exactly one device or one holder")
        if not reason.strip() or not approver.strip():
            raise InvalidInput.at("--reason/--approver", "an exemption needs a reason and an approver")
        ends = _until(until)
    with _errors_exit(), _database(database) as db, db.session() as session:
        exemption = Exemption(id=exemption_id or f"ex-{secrets.token_hex(4)}", restriction=restriction_id,
                              reason=reason.strip(), approver=approver.strip(), ends=ends, device=device,
                              holder=holder)
        ExemptionRepository(session).grant(exemption, actor=_actor(), now=now)
        context = load_context(session)
        outcome = evaluate_pairs(session, context, _exemption_pairs(session, exemption), now)
    last = ends - dt.timedelta(microseconds=1)
    out.print(f"exemption {exemption.id}: {device or holder} excused from {restriction_id} until "
              f"{last:%Y-%m-%d %H:%M} UTC; findings: {outcome.changes} changed" + _states_text(outcome.states))


@exemption_app.command("revoke")
def exemption_revoke(exemption_id: Annotated[str, typer.Argument(help="The exemption's id.")],
                     database: DatabaseOption = None) -> None:
    """End an exemption now; the devices it covered are judged again at once."""
    now = _now()
    with _errors_exit(), _database(database) as db, db.session() as session:
        repository = ExemptionRepository(session)
        exemption = repository.get(exemption_id)
        if exemption is None:
            raise NotFound(f"no exemption `{exemption_id}`: `appban exemption list` shows them")
        repository.revoke(exemption_id, actor=_actor(), now=now)
        context = load_context(session)
        outcome = evaluate_pairs(session, context, _exemption_pairs(session, exemption), now)
    out.print(f"exemption {exemption_id} revoked; findings: {outcome.changes} changed" + _states_text(outcome.states))


@exemption_app.command("list")
def exemption_list(database: DatabaseOption = None, fmt: FormatOption = "table") -> None:
    """Exemptions in force, soonest to end first."""
    now = _now()
    with _errors_exit(), _database(database) as db, db.session() as session:
        active = sorted(ExemptionRepository(session).active(now), key=lambda e: (e.ends, e.id))
    if fmt == "json":
        out.print_json(json.dumps([{"id": e.id, "restriction": e.restriction, "device": e.device,
                                    "holder": e.holder, "reason": e.reason, "approver": e.approver,
                                    "ends": e.ends.isoformat()} for e in active]))
        return
    _require_table(fmt)
    if not active:
        out.print("no exemptions in force")
        return
    table = Table(box=None)
    for column in ("id", "restriction", "device or holder", "until", "approver"):
        table.add_column(column, no_wrap=column in ("id", "until"), overflow="fold")
    table.add_column("reason", overflow="fold")
    for e in active:
        table.add_row(e.id, e.restriction, e.device or e.holder or "-", f"{e.ends:%Y-%m-%d}", e.approver, e.reason)
    out.print(table)


# --- audit, db --------------------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[Path | None, typer.Option(
        help="A checkpoint published earlier (`appban audit checkpoint`): the log must still begin with it.")] = None,
    key: Annotated[str | None, typer.Option(
        help="The public key the checkpoint was signed with: a file, or the base64 line `feed keygen` printed.")
    ] = None,
    decisions: Annotated[list[Path] | None, typer.Option(
        "--decisions", help="The gate's decision log (repeat for every file of every gate process, oldest first): "
        "each run of lines sealed in the audit log must be there unchanged.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Recompute the audit log's hash chain (and, given a checkpoint, its Merkle tree; given decision logs, their
    seals); exit 1 and list every break if it was tampered with."""
    with _errors_exit():
        published = _read_checkpoint(checkpoint, key) if checkpoint is not None else None
    with _errors_exit(), _database(database) as db, db.session() as session:
        log = AuditLog(session)
        breaks = log.verify()
        leaves = log.leaves()
        sealed = log.page(events=[AuditEvent.GATE_DECISIONS], newest_first=False, limit=None)
    count = len(leaves)
    checked = _check_decision_logs(decisions, sealed, breaks) if decisions else None
    if published is not None:
        if published.size > count:
            breaks.append(f"checkpoint {checkpoint}: it covers {published.size} entries, the log holds {count}: "
                          "entries were removed from the end")
        elif tree_root(leaves[:published.size]) != published.root:
            breaks.append(f"checkpoint {checkpoint}: the log's first {published.size} entries are not those it "
                          "signed: history was rewritten (even if the chain was resealed)")
    for line in breaks:
        err.print(line, markup=False)
    if breaks:
        err.print(f"audit log: {len(breaks)} break(s) in {count} entries")
        raise typer.Exit(1)
    pinned = f", and begins with the {published.size} entries of {checkpoint}" if published is not None else ""
    out.print(f"audit log: {count} entries, chain intact{pinned}", markup=False)
    if checked is not None:
        out.print(f"decision log: {checked.lines} lines, {checked.seals} sealed run(s) intact, {checked.unsealed} "
                  "line(s) not sealed yet (written since the last seal, or while the database was away)",
                  markup=False)


def _check_decision_logs(files: list[Path], sealed: list[AuditEntry], breaks: list[str]) -> SealCheck:
    """Recompute every `gate:decisions` seal from the files; their problems go to `breaks`."""
    seals: list[DecisionSeal] = []
    for entry in sealed:
        try:
            seals.append(DecisionSeal.from_details(entry.details))
        except ValueError as error:
            breaks.append(f"{entry.describe()}: {error}")

    def lines() -> Iterator[bytes]:
        for path in files:
            try:
                with path.open("rb") as handle:
                    yield from handle
            except OSError as error:
                raise InvalidInput.at(str(path), f"cannot read the decision log: {error.strerror}") from None

    with _errors_exit():
        checked = check_lines(lines(), seals)
    breaks += [f"decision log: {problem}" for problem in checked.problems]
    return checked


@audit_app.command("checkpoint")
def audit_checkpoint(
    key: Annotated[Path, typer.Option(help="The Ed25519 private key that signs (`appban feed keygen` makes one).",
                                      show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write it here (default: standard output).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Sign the audit log's current size and Merkle root: publish the result where the operator cannot rewrite it
    (another organisation, a ticket, a transparency log); `audit verify --checkpoint` then catches any rewrite."""
    with _errors_exit():
        private_key = load_private_key(_read_key_file(key), str(key))
    with _errors_exit(), _database(database) as db, db.session() as session:
        leaves = AuditLog(session).leaves()
    signed = sign_checkpoint(len(leaves), tree_root(leaves), private_key)
    if output is None:
        out.print(signed.text, markup=False, end="")
        return
    with _errors_exit():
        try:
            output.write_text(signed.text, encoding="utf-8")
        except OSError as error:
            raise InvalidInput.at(str(output), f"cannot write: {error.strerror}") from None
    out.print(f"checkpoint of {signed.size} entries written to {output}", markup=False)


@audit_app.command("prove")
def audit_prove(
    entry: Annotated[int | None, typer.Option(help="Prove this entry (its sequence number) is in the log.")] = None,
    since: Annotated[int | None, typer.Option(
        help="Prove the log extends its first SINCE entries (a checkpoint's size).")] = None,
    database: DatabaseOption = None,
) -> None:
    """An inclusion proof for one entry, or a consistency proof from an earlier size, as JSON (RFC 9162)."""
    with _errors_exit():
        if (entry is None) == (since is None):
            raise InvalidInput.at("--entry/--since", "give exactly one of them")
    with _errors_exit(), _database(database) as db, db.session() as session:
        leaves = AuditLog(session).leaves()
    size = len(leaves)
    with _errors_exit():
        if entry is not None:
            if not 1 <= entry <= size:
                raise InvalidInput.at("--entry", f"there is no entry {entry}; the log holds entries 1 to {size}")
            body: dict[str, object] = {
                "tree_size": size, "root": tree_root(leaves).hex(), "entry": entry, "leaf": leaves[entry - 1].hex(),
                "inclusion_proof": [h.hex() for h in inclusion_proof(entry - 1, leaves)]}
        else:
            assert since is not None
            if not 1 <= since <= size:
                raise InvalidInput.at("--since", f"{since} is not a size from 1 to the log's {size}")
            body = {"old_size": since, "old_root": tree_root(leaves[:since]).hex(), "tree_size": size,
                    "root": tree_root(leaves).hex(),
                    "consistency_proof": [h.hex() for h in consistency_proof(since, leaves)]}
    out.print(json.dumps(body, indent=2), markup=False)


def _read_checkpoint(path: Path, key: str | None) -> Checkpoint:
    if key is None:
        raise InvalidInput.at("--key", "a checkpoint is checked against its signer's public key: give it")
    key_path = Path(key)
    public_key = load_public_key(_read_key_file(key_path) if key_path.is_file() else key.encode("utf-8"), "--key")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput.at(str(path), f"cannot read: {error}") from None
    return read_checkpoint(text, public_key, str(path))


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Create or migrate the schema to this version of appban (other commands do this on their own)."""
    with _errors_exit(), _database(database):
        pass
    out.print("database schema is current")


# --- tokens -----------------------------------------------------------------------------------------------

@token_app.command("create")
def token_create(
    org: Annotated[str, typer.Option("--org", help="The organisation whose subtree the token sees.")],
    role: Annotated[Role, typer.Option(help="admin, analyst, auditor, source or gate.")],
    name: Annotated[str, typer.Option(help="What uses it, e.g. mail-proxy or intune-export.")],
    expires: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD) or time (RFC 3339) it is valid.")
                       ] = None,
    database: DatabaseOption = None,
) -> None:
    """Create an API token (audited); its secret is printed once and cannot be shown again."""
    now = _now()
    with _errors_exit():
        until = _until(expires) if expires is not None else None
    with _errors_exit(), _database(database) as db, db.session() as session:
        if OrganisationRepository(session).get(org) is None:
            raise NotFound(f"no organisation `{org}`: `appban org list` shows them")
        info, secret = TokenRepository(session).create(name=name, organisation=org, role=role, expires=until,
                                                       actor=_actor(), now=now)
    out.print(f"token {info.id} ({info.name}): {info.role} of {info.organisation}, {_token_expiry(info)}",
              markup=False)
    out.print(secret, markup=False)
    out.print("This secret will not be shown again: store it now (appban keeps only its hash).", markup=False)


@token_app.command("list")
def token_list(org: Annotated[str | None, typer.Option("--org", help="Only this organisation's tokens.")] = None,
               database: DatabaseOption = None, fmt: FormatOption = "table") -> None:
    """Tokens by id, revoked and expired ones too (never their secrets)."""
    now = _now()
    with _errors_exit(), _database(database) as db, db.session() as session:
        tokens = TokenRepository(session).list({org} if org else None)
    if fmt == "json":
        out.print_json(json.dumps([{
            "id": t.id, "name": t.name, "organisation": t.organisation, "role": str(t.role),
            "created_at": t.created_at.isoformat(), "created_by": t.created_by,
            "expires": t.expires.isoformat() if t.expires else None,
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None, "state": _token_state(t, now),
        } for t in tokens]))
        return
    _require_table(fmt)
    if not tokens:
        out.print("no tokens yet: `appban token create --org ORG --role ROLE --name NAME`")
        return
    table = Table(box=None)
    for column in ("id", "name", "organisation", "role", "state", "expires"):
        table.add_column(column, no_wrap=column in ("id", "role", "state"), overflow="fold")
    for t in tokens:
        table.add_row(t.id, t.name, t.organisation, str(t.role), _token_state(t, now),
                      f"{t.expires:%Y-%m-%d}" if t.expires else "-")
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (tok_...).")],
                 database: DatabaseOption = None) -> None:
    """Revoke a token now (audited); a running server stops accepting it within a second."""
    with _errors_exit(), _database(database) as db, db.session() as session:
        info = TokenRepository(session).revoke(token_id, actor=_actor(), now=_now())
    out.print(f"token {info.id} ({info.name}) revoked", markup=False)


def _token_state(info: TokenInfo, now: dt.datetime) -> str:
    if info.revoked_at is not None:
        return "revoked"
    return "active" if info.valid(now) else "expired"


def _token_expiry(info: TokenInfo) -> str:
    return f"valid until {info.expires:%Y-%m-%d %H:%M} UTC" if info.expires else "no expiry"


# --- users ------------------------------------------------------------------------------------------------

user_app = typer.Typer(no_args_is_help=True, help="People who sign in to the dashboard: create, list.")
app.add_typer(user_app, name="user")


@user_app.command("create")
def user_create(
    org: Annotated[str, typer.Option("--org", help="The organisation whose subtree the user sees.")],
    role: Annotated[Role, typer.Option(help="admin, analyst or auditor.")],
    username: Annotated[str, typer.Option(help="What the user types to sign in.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line "
                                                 "of standard input instead of asking for it twice.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Create a dashboard user (audited); the password is asked twice, hidden, or read from standard input."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            err.print("error: the two passwords differ; nothing was stored", markup=False)
            raise typer.Exit(2)
    with _errors_exit(), _database(database) as db, db.session() as session:
        info = UserRepository(session).create(username=username, organisation=org, role=role, password=password,
                                              actor=_actor(), now=_now())
    out.print(f"user {info.id} ({info.username}): {info.role} of {info.organisation}", markup=False)


@user_app.command("list")
def user_list(org: Annotated[str | None, typer.Option("--org", help="Only this organisation's users.")] = None,
              database: DatabaseOption = None, fmt: FormatOption = "table") -> None:
    """Dashboard users by username, disabled ones too (never their passwords)."""
    with _errors_exit(), _database(database) as db, db.session() as session:
        users = UserRepository(session).list({org} if org else None)
    if fmt == "json":
        out.print_json(json.dumps([{
            "id": u.id, "username": u.username, "organisation": u.organisation, "role": str(u.role),
            "created_at": u.created_at.isoformat(), "created_by": u.created_by,
            "disabled_at": u.disabled_at.isoformat() if u.disabled_at else None} for u in users]))
        return
    _require_table(fmt)
    if not users:
        out.print("no users yet: `appban user create --org ORG --role ROLE --username NAME`")
        return
    table = Table(box=None)
    for column in ("id", "username", "organisation", "role", "state"):
        table.add_column(column, no_wrap=column in ("id", "role", "state"), overflow="fold")
    for u in users:
        table.add_row(u.id, u.username, u.organisation, str(u.role), "active" if u.active else "disabled")
    out.print(table)


# --- assess -----------------------------------------------------------------------------------------------


@app.command("assess")
def assess_build(
    file: Annotated[Path, typer.Argument(help="An APK, XAPK/APKS bundle or IPA.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, md or html.")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here (default: standard output).",
                                                show_default=False)] = None,
    work_need: Annotated[str | None, typer.Option(
        "--work-need", "--need", help="Who needs the app for work (the analyst's answer); omit if nobody does.",
        show_default=False)] = None,
    assessed_at: Annotated[str | None, typer.Option(
        "--assessed-at", help="Timestamp to record in the report (none by default, so reports are reproducible).",
        show_default=False)] = None,
    store: Annotated[bool, typer.Option(
        "--store", help="Store the assessment for --org in the database and print its id and what changed since "
                        "the previous assessment of the same app (the report goes to -o only).")] = False,
    org: Annotated[str | None, typer.Option("--org", help="With --store: the organisation it is stored for.",
                                            show_default=False)] = None,
    database: DatabaseOption = None,
) -> None:
    """Assess an app build's risk: permissions, trackers, signer, publisher; a rating and a recommendation."""
    renderers: Mapping[str, Callable[[Assessment], str]] = {"json": risk_json, "md": to_markdown, "html": to_html}
    with _errors_exit():
        if fmt not in renderers:
            raise InvalidInput.at("--format", f"unknown format {fmt!r}", hint="one of: json, md, html")
        need = WorkNeed(True, work_need.strip()) if work_need and work_need.strip() else WorkNeed()
        if store:
            _assess_and_store(file, org, need, assessed_at, database, output, renderers[fmt])
            return
        if org is not None:
            raise InvalidInput.at("--org", "names where an assessment is stored", hint="add --store")
        with _open_regular(file) as stream:
            result = assess_app(stream, str(file), default_catalog(), work_need=need, assessed_at=assessed_at)
        text = renderers[fmt](result)
        if output is None:
            sys.stdout.write(text)
            return
        _write_report(output, text)
    err.print(f"{file}: {result.rating.value} ({result.score}/100), {result.action.value}; report in {output}",
              markup=False)


def _write_report(output: Path, text: str) -> None:
    # Written next to the target and renamed over it: a reader never sees half a report, and a failed
    # assessment (raised before) leaves any previous report untouched.
    partial = output.with_name(f".{output.name}.{secrets.token_hex(4)}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, output)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise InvalidInput.at(str(output), f"cannot write the report: {error.strerror or error}") from None


def _assess_and_store(file: Path, org: str | None, need: WorkNeed, assessed_at: str | None, database: str | None,
                      output: Path | None, render: Callable[[Assessment], str]) -> None:
    if org is None:
        raise InvalidInput.at("--org", "--store needs the organisation the assessment is stored for",
                              hint="add --org ORG (`appban org list` shows them)")
    if assessed_at is not None:
        raise InvalidInput.at("--assessed-at", "a stored assessment records when it was stored",
                              hint="drop --assessed-at, or --store")
    with _database(database) as db:
        with db.session() as session:
            if org not in OrganisationTree(OrganisationRepository(session).all()):
                raise NotFound(f"no organisation `{org}`: `appban org list` shows them")
        # Assessed outside any transaction: SQLite would hold its write lock for as long as it takes.
        with _open_regular(file) as stream:
            assessment = assess_app(stream, str(file), default_catalog(), work_need=need)
        with db.session() as session:
            tree = OrganisationTree(OrganisationRepository(session).all())
            if org not in tree:
                raise NotFound(f"no organisation `{org}`: `appban org list` shows them")
            stored = store_assessment(session, assessment, organisation=org, actor=_actor(), now=_now(),
                                      visible=tree.subtree(org))
            if output is not None:
                _write_report(output, render(stored.assessment))
    record = stored.record
    verb = "stored" if stored.created else "already stored (same build, same result)"
    out.print(f"{record.id}: {verb} for {record.organisation}: {_assessed_app(record)}, {record.rating} "
              f"({record.score}/100), {record.action}" + (f"; report in {output}" if output else ""), markup=False)
    for line in _change_lines(stored.previous, stored.changes):
        out.print(line, markup=False)


def _assessed_app(record: AssessmentRecord) -> str:
    version = record.version_name or record.version_code
    return f"{record.platform}:{record.app_id}" + (f" {version}" if version else "")


def _change_lines(previous: AssessmentRecord | None, changes: AssessmentDiff | None) -> list[str]:
    """What changed since the previous assessment, one line per kind of change."""
    if previous is None or changes is None:
        return ["first assessment of this app: nothing to compare with"]
    when = f"{previous.created_at:%Y-%m-%d}"
    head = f"since {previous.id} ({_assessed_app(previous)}, {when}):"
    if not changes.changed:
        return [f"{head} nothing changed"]
    lines = [head]
    for label, added, removed in (("permissions", changes.added_permissions, changes.removed_permissions),
                                  ("trackers", changes.added_trackers, changes.removed_trackers),
                                  ("special access", changes.added_special_access, changes.removed_special_access)):
        if added:
            lines.append(f"  new {label}: {', '.join(added)}")
        if removed:
            lines.append(f"  {label} gone: {', '.join(removed)}")
    if changes.signer_changed:
        lines.append(f"  NEW SIGNER: {', '.join(changes.current_signers) or 'none'} "
                     f"(was {', '.join(changes.previous_signers) or 'none'})")
    if changes.previous_rating != changes.current_rating or changes.score_change:
        lines.append(f"  rating: {changes.previous_rating} -> {changes.current_rating} "
                     f"(score {changes.score_change:+d})")
    return lines


assessment_app = typer.Typer(no_args_is_help=True, help="Stored assessments of app builds (`appban assess --store`).")
app.add_typer(assessment_app, name="assessment")


@assessment_app.command("list")
def assessment_list(
    family: Annotated[str | None, typer.Option("--family", help="Only apps of this catalogued family.",
                                               show_default=False)] = None,
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation and those below it.",
                                            show_default=False)] = None,
    app_id: Annotated[str | None, typer.Option("--app", help="Only this package name or bundle id.",
                                               show_default=False)] = None,
    database: DatabaseOption = None, fmt: FormatOption = "table",
) -> None:
    """Stored assessments, newest first."""
    with _errors_exit(), _database(database) as db, db.session() as session:
        organisations: set[str] | None = None
        if org is not None:
            tree = OrganisationTree(OrganisationRepository(session).all())
            if org not in tree:
                raise NotFound(f"no organisation `{org}`: `appban org list` shows them")
            organisations = tree.subtree(org)
        records, _ = AssessmentRepository(session).page(organisations=organisations, family=family, app_id=app_id,
                                                        limit=None)
        if fmt == "json":
            out.print_json(json.dumps([_assessment_json(r) for r in records]))
            return
        _require_table(fmt)
    if not records:
        out.print("no assessments" + (" match" if family or org or app_id else " yet: run `appban assess FILE "
                                                                                   "--store --org ORG`"))
        return
    table = Table(box=None)
    for column in ("id", "organisation", "app", "version", "rating", "action", "assessed"):
        table.add_column(column, no_wrap=column in ("id", "rating", "assessed"), overflow="fold")
    for r in records:
        table.add_row(r.id, r.organisation, r.app_id, r.version_name or r.version_code or "-",
                      f"{r.rating} {r.score}", r.action, f"{r.created_at:%Y-%m-%d}")
    out.print(table)


@assessment_app.command("show")
def assessment_show(
    assessment_id: Annotated[str, typer.Argument(help="The assessment's id (asm_...).", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", help="json or md.")] = "json",
    database: DatabaseOption = None,
) -> None:
    """One stored assessment: its report and what changed since the previous assessment of the same app."""
    with _errors_exit():
        if fmt not in ("json", "md"):
            raise InvalidInput.at("--format", f"unknown format {fmt!r}", hint="one of: json, md")
        with _database(database) as db, db.session() as session:
            repository = AssessmentRepository(session)
            found = repository.get(assessment_id)
            if found is None:
                raise NotFound(f"no assessment `{assessment_id}`")
            # Compared as when it was stored: with the assessments of its organisation's subtree.
            tree = OrganisationTree(OrganisationRepository(session).all())
            comparison = compare_with_previous(session, assessment_id, tree.subtree(found.organisation))
            report = repository.report(assessment_id)
            assert report is not None
    record = comparison.record
    if fmt == "json":
        changes = comparison.changes
        body = {**_assessment_json(record), "report": json.loads(risk_json(report)),
                "changes": None if changes is None or comparison.previous is None else
                {"previous": comparison.previous.id, "changed": changes.changed,
                 **json.loads(json.dumps(dataclasses.asdict(changes)))}}
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return
    lines = [f"{record.id}: stored for {record.organisation} on {record.created_at:%Y-%m-%d %H:%M} UTC by "
             f"{record.created_by}", ""]
    lines += ["## Changes since the previous assessment", ""]
    said = _change_lines(comparison.previous, comparison.changes)
    lines += [said[0], *(f"- {line.strip()}" for line in said[1:])]
    sys.stdout.write(to_markdown(report) + "\n" + "\n".join(lines) + "\n")


def _assessment_json(r: AssessmentRecord) -> dict[str, object]:
    return {"id": r.id, "organisation": r.organisation, "family": r.family, "platform": r.platform,
            "app_id": r.app_id, "version_name": r.version_name, "version_code": r.version_code,
            "build_sha256": r.build_sha256, "file_name": r.file_name, "rating": r.rating, "score": r.score,
            "action": r.action, "work_need": r.work_need, "created_at": r.created_at.isoformat(),
            "created_by": r.created_by}


# --- serve ------------------------------------------------------------------------------------------------


# --- exports and feeds ------------------------------------------------------------------------------------

feed_app = typer.Typer(no_args_is_help=True, help="Signed feeds of restrictions: create a signing key, pull a feed.")
app.add_typer(feed_app, name="feed")


@app.command("export")
def export(
    to: Annotated[str, typer.Option("--to", help="amapi, intune, apple or feed.", show_default=False)],
    org: Annotated[str | None, typer.Option(
        "--org", help="The organisation (default: every one; a feed needs its issuer).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the file here (default: standard output).")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="The private key that signs a feed.")] = None,
    today: Annotated[str | None, typer.Option(help="Restrictions in force on this date (YYYY-MM-DD).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Compile restrictions into what a device-management system applies, or sign a feed (docs/export.md)."""
    with _errors_exit():
        if to not in EXPORT_TARGETS:
            raise InvalidInput.at("--to", f"no export target {to!r}", hint="use " + ", ".join(EXPORT_TARGETS))
        now = _now() if today is None else dt.datetime.combine(_day(today), dt.time(), tzinfo=dt.UTC)
        private_key = None
        if key is not None:
            private_key = load_private_key(_read_key_file(key), str(key))
        elif to == "feed":
            raise InvalidInput.at("--key", "a feed is signed: give the private key file",
                                  hint="create one with `appban feed keygen -o KEYFILE`")
    with _errors_exit(), _database(database) as db, db.session() as session:
        result = export_restrictions(session, to, org, now=now, private_key=private_key)
    for note in result.notes:
        err.print(f"note: {note}", markup=False)
    if output is None:
        sys.stdout.buffer.write(result.content)
        sys.stdout.buffer.flush()
        return
    with _errors_exit():
        try:
            output.write_bytes(result.content)
        except OSError as error:
            raise InvalidInput.at(str(output), f"cannot write: {error.strerror}") from None
    out.print(f"wrote {output} ({len(result.content)} bytes, {result.media_type})", markup=False)


@feed_app.command("keygen")
def feed_keygen(output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write the private key (PEM, mode 0600); never overwritten.",
        show_default=False)]) -> None:
    """Create an Ed25519 key to sign feeds; prints the public key that subscribers verify with."""
    pem, public = generate_feed_key()
    with _errors_exit():
        try:
            descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidInput.at(str(output), "already exists; a signing key is never overwritten",
                                  hint="choose another file name") from None
        except OSError as error:
            raise InvalidInput.at(str(output), f"cannot write: {error.strerror}") from None
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
    err.print(f"private key written to {output} (keep it secret); public key:", markup=False)
    out.print(public, markup=False)


@feed_app.command("pull")
def feed_pull(
    source: Annotated[str, typer.Argument(help="The feed: an https:// URL or a file.", show_default=False)],
    key: Annotated[str, typer.Option(
        "--key", help="The issuer's public key: a file, or the base64 line `feed keygen` printed.",
        show_default=False)],
    org: Annotated[str, typer.Option("--org", help="The child organisation subscribing.", show_default=False)],
    database: DatabaseOption = None,
) -> None:
    """Verify a signed feed, then store its restrictions as `policy apply` does (all of them or none)."""
    with _errors_exit():
        key_path = Path(key)
        key_text = _read_key_file(key_path) if key_path.is_file() else key.encode("utf-8")
        public_key = load_public_key(key_text, "--key")
        feed = verify_feed(read_feed_source(source), public_key, source)
    with _errors_exit(), _database(database) as db, db.session() as session:
        pulled = pull_feed(session, feed, org, source=source, actor=_actor(), now=_now())
    out.print(f"feed of {pulled.issuer} verified (key {pulled.key_id})", markup=False)
    table = Table("restriction", "version", "outcome", box=None)
    for applied in pulled.applied:
        table.add_row(applied.id, str(applied.version), str(applied.outcome))
    if pulled.applied:
        out.print(table)
    out.print(f"findings: {pulled.outcome.changes} changed" + _states_text(pulled.outcome.states), markup=False)
    for restriction_id in pulled.recommended:
        out.print(f"recommended to {org}: adopt with `appban policy adopt {restriction_id} --org {org}`",
                  markup=False)


def _read_key_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > 64 * 1024:
            raise InvalidInput.at(str(path), "too large for a key file")
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput.at(str(path), "no such file") from None
    except OSError as error:
        raise InvalidInput.at(str(path), f"cannot read: {error.strerror}") from None


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    database: DatabaseOption = None,
    workers: Annotated[int, typer.Option(help="Worker processes; each keeps its own decision table.", min=1,
                                         max=64)] = 1,
    gate_listen: Annotated[str | None, typer.Option(
        help="Also answer /gate/auth on a listener of its own, several times faster than through the API's server: "
             "HOST:PORT or unix:PATH (sets APPBAN_GATE_LISTEN).")] = None,
) -> None:
    """Serve the API, the gate (/gate/auth) and the holders' remediation pages (settings: docs/gate.md).

    The database must be at this appban's schema (`appban db upgrade`); it is not migrated here.
    """
    url = database_url(database)
    shown = f"[{host}]" if ":" in host else host
    environ = dict(os.environ) if gate_listen is None else {**os.environ, "APPBAN_GATE_LISTEN": gate_listen}
    with _errors_exit():
        settings = Settings.from_environment(environ, public_url=f"http://{shown}:{port}")
        if isinstance(settings.gate_listen, Path) and workers > 1:
            raise InvalidInput.at("APPBAN_GATE_LISTEN", "a Unix socket can serve one worker process only",
                                  hint="give HOST:PORT to share the gate's listener between workers, or --workers 1")
        with Database.open(url) as db:
            db.check_schema()
    os.environ[URL_VARIABLE] = url  # the workers build their app from the environment
    os.environ.setdefault(PUBLIC_URL_VARIABLE, f"http://{shown}:{port}")
    if gate_listen is not None:
        os.environ["APPBAN_GATE_LISTEN"] = gate_listen
    run_server(host=host, port=port, workers=workers)


# --- demo -------------------------------------------------------------------------------------------------


@app.command("demo")
def demo(
    database: Annotated[str, typer.Option(
        "--database", "-d", help="Where to build it: a SQLite URL (sqlite:///PATH).")] = DEMO_URL,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the database even if `appban demo` did not make it.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic fleet: the same seed, the same fleet.")
                    ] = DEFAULT_SEED,
    size: Annotated[float, typer.Option(
        help="Fleet size relative to the seed cases' (1.0: the Commission's 32,000 devices, about 40,000 in all).",
        min=0.001, max=10)] = 1.0,
    weeks: Annotated[int, typer.Option(help="Weeks of inventory history.", min=1, max=MAX_WEEKS)] = DEFAULT_WEEKS,
    examples: Annotated[Path | None, typer.Option(
        help="The seed cases (organisations/ and restrictions/; default: examples/ of this checkout).",
        show_default=False)] = None,
    serve_it: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve it once built.")] = True,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Build a demo database (the seed cases, a synthetic fleet with weeks of history, an assessment), then
    serve it and print how to sign in. An existing database not made by the demo is left alone (--force)."""
    with _errors_exit(), Progress(TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(), console=err,
                                  transient=True) as progress:
        task = progress.add_task("building the demo", total=None)

        def advance(what: str, done: int, total: int) -> None:
            progress.update(task, description=what, completed=done, total=total)

        result = build_demo(database, examples=examples, seed=seed, size=size, weeks=weeks, force=force,
                            progress=advance)
    _print_demo(result, host, port, serve_it)
    if serve_it:
        serve(host=host, port=port, database=result.url, workers=1, gate_listen=None)


def _print_demo(result: DemoResult, host: str, port: int, serving: bool) -> None:
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    out.print(f"demo database {result.url}: {result.devices} devices, {result.holders} holders, {result.reports} "
              f"inventory reports over {result.days} days, {result.exemptions} exemptions; built in "
              f"{result.seconds:.0f} s", markup=False)
    out.print(f"the Commission's TikTok restriction cites assessment {result.assessment}: "
              + (state_counts(result.states) or "no findings") if result.cited else
              f"assessment {result.assessment} stored for eu-commission", markup=False)
    out.print(f"API token for eu-commission (admin; {result.token_id}), shown once:", markup=False)
    out.print(result.token, markup=False)
    if result.login is not None:
        username, password = result.login
        out.print(f"dashboard: {url}/  sign in as {username} with the password {password}", markup=False)
    else:
        out.print(f"dashboard: {url}/  (no dashboard users yet: use the API token, "
                  f"curl -H 'Authorization: Bearer TOKEN' {url}/api/v1/restrictions)", markup=False)
    if not serving:
        out.print(f"serve it with: appban serve --database {result.url} --host {host} --port {port}", markup=False)


# --- shell plumbing ---------------------------------------------------------------------------------------


@contextmanager
def _errors_exit() -> Iterator[None]:
    """Turn appban errors into their one-line diagnoses and exit codes; nothing else is caught."""
    try:
        yield
    except InvalidInput as error:
        for problem in error.problems:
            err.print(str(problem), markup=False)
        files = len({p.where.source for p in error.problems})
        err.print(f"{len(error.problems)} problem(s) in {files} input(s); nothing was stored", markup=False)
        raise typer.Exit(error.exit_code) from None
    except AppbanError as error:
        err.print(f"error: {error.diagnosis}", markup=False)
        raise typer.Exit(error.exit_code) from None


@contextmanager
def _database(explicit: str | None) -> Iterator[Database]:
    db = Database.open(database_url(explicit))
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()


def _stored_organisations(explicit: str | None) -> list[Organisation]:
    """Organisations already stored, for checking references; none if there is no database yet."""
    url = database_url(explicit)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    db = Database.open(url)
    try:
        db.upgrade()
        with db.session() as session:
            return OrganisationRepository(session).all()
    finally:
        db.dispose()


def _read_batch(files: Sequence[Path], known: list[Organisation]) -> PolicyBatch:
    texts: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for path in files:
        try:
            texts.append((str(path), _read_text(path)))
        except InvalidInput as error:
            problems.extend(error.problems)
    if problems:
        raise InvalidInput(problems)
    return read_batch(texts, known=known, catalog=default_catalog())


def _read_text(path: Path) -> str:
    source = str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InvalidInput.at(source, "not a regular file")
        if size > MAX_DOCUMENT_BYTES:
            raise InvalidInput.at(source, f"file is {size} bytes, more than the {MAX_DOCUMENT_BYTES} allowed",
                                  hint="a policy file holds one restriction or one organisation tree")
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InvalidInput.at(source, "no such file") from None
    except UnicodeDecodeError as error:
        raise InvalidInput.at(source, f"not UTF-8 text (byte {error.start})", hint="save the file as UTF-8") \
            from None
    except OSError as error:
        raise InvalidInput.at(source, f"cannot read: {error.strerror}") from None


def _check_adopter(restriction: Restriction, org: str, tree: OrganisationTree) -> None:
    if restriction.children is not ChildPolicy.RECOMMENDED:
        raise InvalidInput.at("--org", f"`{restriction.id}` is mandatory for child organisations; "
                              "there is nothing to adopt")
    if org not in tree:
        raise NotFound(f"no organisation `{org}`: `appban org list` shows them")
    if org == restriction.issuer or not tree.is_within(org, restriction.issuer):
        raise InvalidInput.at("--org", f"`{org}` is not a child organisation of `{restriction.issuer}`",
                              hint="only organisations below the issuer adopt its recommendations")


def _actor() -> str:
    configured = os.environ.get("APPBAN_ACTOR")
    if configured:
        return configured
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _day(text: str | None) -> dt.date:
    if text is None:
        return _now().date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput([Problem(Location("--today"), f"{text!r} is not a date",
                                    "write it as YYYY-MM-DD")]) from None


def _require_table(fmt: str) -> None:
    if fmt != "table":
        _fail_usage("--format", f"{fmt!r} is not a format here", "use table or json")


def _fail_usage(where: str, message: str, hint: str) -> NoReturn:
    raise _exit_with(InvalidInput.at(where, message, hint=hint))


def _exit_with(error: InvalidInput) -> typer.Exit:
    for problem in error.problems:
        err.print(str(problem), markup=False)
    return typer.Exit(error.exit_code)


def _targets_text(targets: Sequence[Target]) -> str:
    parts = []
    for target in targets:
        if target.kind is TargetKind.PUBLISHER and target.controlled:
            parts.append(f"{target.value}+controlled({target.control_test or 'majority'})")
        elif target.kind is TargetKind.APP and target.platform is not None:
            parts.append(f"{target.platform}:{target.value}")
        else:
            parts.append(target.value)
    return ", ".join(parts)


def _date_text(day: dt.date | None) -> str:
    return str(day) if day is not None else "-"


def _restriction_json(item: StoredRestriction, day: dt.date) -> dict[str, Any]:
    r = item.restriction
    return {
        "id": r.id, "version": item.version, "issuer": r.issuer, "title": r.title,
        "state": str(lifecycle(r, day)), "status": str(r.status), "strictness": str(r.strictness),
        "targets": [{"kind": str(t.kind), "value": t.value, "platform": t.platform, "controlled": t.controlled,
                     "control_test": t.control_test} for t in r.targets],
        "scope": {"organisations": sorted(r.scope.organisations), "devices": r.scope.devices.describe()},
        "grace_days": r.grace.days, "cuts": sorted(r.cuts), "effective": str(r.effective),
        "expires": _json_date(r.expires), "review": _json_date(r.review), "children": str(r.children),
        "shadow": r.shadow, "unknown_counts_as": str(r.unknown_counts_as), "content_hash": item.content_hash,
        "applied_at": item.applied_at.isoformat(), "applied_by": item.applied_by,
    }


def _json_date(day: dt.date | None) -> str | None:
    return str(day) if day is not None else None


def _org_label(org: Organisation) -> str:
    kind = f" [dim]({org.kind})[/dim]" if org.kind else ""
    return f"[bold]{org.id}[/bold] {org.name}{kind}"


def _grow(view: Tree, org_id: str, tree: OrganisationTree) -> None:
    for child in tree.children(org_id):
        branch = view.add(_org_label(tree.organisations[child]))
        _grow(branch, child, tree)


def _import_one(db: Database, source: InventoryFormat, path: Path, defaults: ReportDefaults) -> ImportSummary:
    if not path.is_file():
        raise InvalidInput.at(str(path), "no such file" if not path.exists() else "not a regular file")
    size = path.stat().st_size
    with db.session() as session, path.open("rb") as raw, Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
            console=err, transient=True, disable=size < 1_000_000) as progress:
        task = progress.add_task(f"importing {path.name}", total=size)
        stream = io.BufferedReader(_CountingReader(raw, lambda n: progress.update(task, completed=n)))
        context = load_context(session)
        return import_stream(session, context, source, stream, str(path), defaults, _now())


class _CountingReader(io.RawIOBase):
    """Reports how far into the file the parser has read, for the progress bar."""

    def __init__(self, raw: BinaryIO, report: Callable[[int], None]) -> None:
        self._raw = raw
        self._report = report
        self._count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # so that an import may read the file again (service.import_stream)
        return self._raw.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self._raw.seek(offset, whence)
        if whence == io.SEEK_SET:  # reading again from there (a look at the size is not progress)
            self._count = position
            self._report(position)
        return position

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._count += len(data)
        self._report(self._count)
        return len(data)


def _print_import(summary: ImportSummary) -> None:
    outcome = summary.outcome
    out.print(f"{summary.source}: {summary.reports} report(s) ({outcome.applied} applied, {outcome.ignored} older "
              f"than known), {summary.devices_created} device(s) new, {summary.devices_updated} updated; "
              f"findings: {outcome.changes} changed" + _states_text(outcome.states))
    for match, count in sorted(summary.matched_by_name.items()):
        out.print(f"  matched by display name only: {match} on {count} device(s)")


def _states_text(states: Mapping[str, int]) -> str:
    shown = [f"{count} {state}" for state, count in sorted(states.items()) if count]
    return f" ({', '.join(shown)})" if shown else ""


def _state_table(by_organisation: Mapping[str, Mapping[str, int]]) -> Table:
    table = Table("organisation", *[str(s) for s in FindingState], box=None)
    for organisation, counts in sorted(by_organisation.items()):
        table.add_row(organisation, *[str(counts.get(str(s), 0)) for s in FindingState])
    return table


def _print_report(result: Report) -> None:
    scope = result.organisation or "all organisations"
    out.print(f"[bold]compliance of {scope}[/bold] at {result.at:%Y-%m-%d %H:%M} UTC: {result.devices} device(s), "
              f"{result.stale_devices} without a recent inventory")
    for summary in result.restrictions:
        totals = summary.totals()
        if not totals:
            continue
        out.print(f"\n[bold]{summary.restriction}[/bold]:" + _states_text(totals))
        out.print(_state_table(summary.by_organisation))
    if result.top_apps:
        out.print("\ntop restricted apps: " + ", ".join(f"{app} ({count})" for app, count in result.top_apps))
    if result.trend:
        first, last = result.trend[0], result.trend[-1]
        out.print(f"trend: non-compliant {first[1]} -> {last[1]}, in grace {first[2]} -> {last[2]} "
                  f"({first[0]} to {last[0]})")


def _report_json(result: Report) -> dict[str, Any]:
    return {
        "organisation": result.organisation, "at": result.at.isoformat(), "devices": result.devices,
        "stale_devices": result.stale_devices,
        "restrictions": [{"restriction": s.restriction, "totals": dict(s.totals()),
                          "by_organisation": {o: dict(c) for o, c in sorted(s.by_organisation.items())}}
                         for s in result.restrictions],
        "top_apps": [{"app": app, "devices": count} for app, count in result.top_apps],
        "trend": [{"day": str(day), "non_compliant": nc, "grace": grace} for day, nc, grace in result.trend],
    }


def _until(text: str) -> dt.datetime:
    """An end date is inclusive: `--until 2023-09-10` holds to the end of that day (UTC)."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return _timestamp(text, "--until")
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(days=1)


def _exemption_pairs(session: Any, exemption: Exemption) -> list[tuple[str, str]]:
    devices = {exemption.device} if exemption.device else DeviceRepository(session).ids_of_holder(
        exemption.holder or "")
    return [(device, exemption.restriction) for device in sorted(devices)]


def _timestamp(text: str, where: str) -> dt.datetime:
    parsed = parse_timestamp(text)
    if parsed is None:
        raise InvalidInput.at(where, f"{text!r} is not a time", hint="write it as 2023-03-15T09:30:00Z")
    return parsed
