"""`appban audit checkpoint|verify|prove`: a signed checkpoint catches what the hash chain alone cannot (a
history rewritten and resealed, entries cut from the end), and proofs verify with the RFC 9162 algorithms."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select, update
from typer.testing import CliRunner

from appban.audit import entry_hash
from appban.cli import app
from appban.merkle import verify_consistency, verify_inclusion
from appban.store import Database
from appban.store.tables import AuditLogRow

from .test_cli_policy import ORGS, RESTRICTIONS, Appban


def seeded(url: str, tmp_path: Path) -> tuple[Appban, Path, str]:
    appban = Appban(url)
    appban("policy", "apply", ORGS, *RESTRICTIONS)
    key = tmp_path / "audit.key"
    made = CliRunner().invoke(app, ["feed", "keygen", "-o", str(key)])
    assert made.exit_code == 0, made.stderr
    return appban, key, made.stdout.strip()


def reseal_with_subject(url: str, seq: int, subject: str) -> None:
    """What an operator with database access could do: rewrite an entry and reseal every hash after it."""
    with Database.open(url) as database, database.session() as session:
        rows = list(session.scalars(select(AuditLogRow).order_by(AuditLogRow.seq)))
        previous = rows[0].prev_hash
        for row in rows:
            if row.seq == seq:
                row.subject = subject
            digest = entry_hash(previous, row.seq, row.at, row.actor, row.event, row.subject, json.loads(row.details))
            session.execute(update(AuditLogRow).where(AuditLogRow.seq == row.seq)
                            .values(subject=row.subject, prev_hash=f"tmp-{row.seq}"))
            row.prev_hash, row.hash, previous = previous, digest, digest
        session.flush()
        for row in rows:
            session.execute(update(AuditLogRow).where(AuditLogRow.seq == row.seq)
                            .values(prev_hash=row.prev_hash, hash=row.hash))


def test_a_resealed_history_passes_the_chain_but_not_the_checkpoint(database_url: str, tmp_path: Path) -> None:
    appban, key, public = seeded(database_url, tmp_path)
    checkpoint = tmp_path / "checkpoint.txt"
    stdout, _ = appban("audit", "checkpoint", "--key", key, "-o", checkpoint)
    size = int(checkpoint.read_text().split("\n")[1])
    assert f"checkpoint of {size} entries" in stdout and size > 3
    stdout, _ = appban("audit", "verify", "--checkpoint", checkpoint, "--key", public)
    assert f"{size} entries, chain intact, and begins with the {size} entries of" in stdout

    appban("policy", "adopt", "be-federal-tiktok-2023", "--org", "be-gent", code=None)  # the log grows: still fine
    appban("audit", "verify", "--checkpoint", checkpoint, "--key", public)

    reseal_with_subject(database_url, 2, "nothing-to-see")
    stdout, _ = appban("audit", "verify")  # the chain alone cannot tell
    assert "chain intact" in stdout
    _, stderr = appban("audit", "verify", "--checkpoint", checkpoint, "--key", public, code=1)
    assert f"the log's first {size} entries are not those it signed: history was rewritten" in stderr


def test_entries_cut_from_the_end_are_caught_and_a_forged_checkpoint_is_refused(
        database_url: str, tmp_path: Path) -> None:
    appban, key, public = seeded(database_url, tmp_path)
    checkpoint = tmp_path / "checkpoint.txt"
    appban("audit", "checkpoint", "--key", key, "-o", checkpoint)
    size = int(checkpoint.read_text().split("\n")[1])
    with Database.open(database_url) as database, database.session() as session:
        session.execute(AuditLogRow.__table__.delete().where(AuditLogRow.seq == size))
    appban("audit", "verify")  # a shorter chain is still a chain
    _, stderr = appban("audit", "verify", "--checkpoint", checkpoint, "--key", public, code=1)
    assert f"it covers {size} entries, the log holds {size - 1}: entries were removed from the end" in stderr

    lines = checkpoint.read_text().split("\n")
    forged = tmp_path / "forged.txt"
    forged.write_text("\n".join([lines[0], str(size - 1), *lines[2:]]))
    _, stderr = appban("audit", "verify", "--checkpoint", forged, "--key", public, code=2)
    assert stderr.startswith(f"{forged}:5: the signature does not verify")


def test_proofs_verify_with_the_rfc_algorithms(database_url: str, tmp_path: Path) -> None:
    appban, _, _ = seeded(database_url, tmp_path)
    stdout, _ = appban("audit", "prove", "--entry", "3")
    proof = json.loads(stdout)
    assert verify_inclusion(bytes.fromhex(proof["leaf"]), 2, proof["tree_size"],
                            [bytes.fromhex(h) for h in proof["inclusion_proof"]], bytes.fromhex(proof["root"]))
    stdout, _ = appban("audit", "prove", "--since", "2")
    consistency = json.loads(stdout)
    assert verify_consistency(2, consistency["tree_size"], bytes.fromhex(consistency["old_root"]),
                              bytes.fromhex(consistency["root"]),
                              [bytes.fromhex(h) for h in consistency["consistency_proof"]])
    assert consistency["root"] == proof["root"]
    _, stderr = appban("audit", "prove", "--entry", "100000", code=2)
    assert "there is no entry 100000" in stderr
