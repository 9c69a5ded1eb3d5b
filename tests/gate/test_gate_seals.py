"""Decision log seals: every run of lines a gate process wrote is counted and hashed; any line changed, removed,
added inside a run or moved shows when the file is checked against the seals (appban.gate.seals)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appban.gate import DecisionLog, DecisionSeal, SealRun, check_lines
from appban.gate.decision import ALLOWED

NOW = dt.datetime(2023, 3, 20, 9, 0, tzinfo=dt.UTC)


def written(process: str, start: int, count: int) -> list[bytes]:
    return [b'{"id":"%s-%x","device":"d%d","result":"allow"}\n' % (process.encode(), n, n)
            for n in range(start, start + count)]


def sealed(process: str, lines: list[bytes]) -> DecisionSeal:
    run = SealRun(process)
    run.extend(b"".join(lines), _id(lines[0]), _id(lines[-1]), len(lines))
    seal = run.seal()
    assert seal is not None
    return seal


def _id(line: bytes) -> str:
    return line.split(b'"')[3].decode()


def interleaved() -> tuple[list[bytes], list[DecisionSeal]]:
    """Two processes appending to one file, each sealing two runs: 20 lines in all."""
    a1, a2 = written("aaaaaaaa", 1, 5), written("aaaaaaaa", 6, 5)
    b1, b2 = written("bbbbbbbb", 1, 4), written("bbbbbbbb", 5, 6)
    lines = [a1[0], b1[0], a1[1], a1[2], b1[1], b1[2], b1[3], a1[3], a1[4], *a2[:2], *b2[:3], *a2[2:], *b2[3:]]
    return lines, [sealed("aaaaaaaa", a1), sealed("bbbbbbbb", b1), sealed("aaaaaaaa", a2), sealed("bbbbbbbb", b2)]


def test_an_untouched_log_matches_every_seal() -> None:
    lines, seals = interleaved()
    checked = check_lines(lines, seals)
    assert checked.problems == ()
    assert (checked.seals, checked.lines, checked.unsealed) == (4, 20, 0)


def test_lines_after_the_last_seal_are_counted_as_unsealed_not_as_tampering() -> None:
    lines, seals = interleaved()
    checked = check_lines([*lines, *written("aaaaaaaa", 11, 3), b"not json\n"], seals)
    assert checked.problems == ()
    assert checked.unsealed == 4


def test_a_changed_line_breaks_its_run_only() -> None:
    lines, seals = interleaved()
    lines[3] = lines[3].replace(b"allow", b"deny!")
    assert check_lines(lines, seals).problems == (
        "decisions aaaaaaaa-1..aaaaaaaa-5: the lines differ from what was sealed: a decision was changed or the "
        "lines reordered",)


def test_a_removed_line_inside_a_run_is_counted() -> None:
    lines, seals = interleaved()
    del lines[4]  # bbbbbbbb-2
    (problem,) = check_lines(lines, seals).problems
    assert problem.startswith("decisions bbbbbbbb-1..bbbbbbbb-4: 3 lines where 4 were sealed: lines were removed")


def test_removed_first_and_last_lines_are_named() -> None:
    lines, seals = interleaved()
    first_gone = [line for line in lines if b'"aaaaaaaa-1"' not in line]
    assert any(problem.startswith("decisions aaaaaaaa-1..aaaaaaaa-5: not in the log: its first decision is missing")
               for problem in check_lines(first_gone, seals).problems)
    last_gone = [line for line in lines if b'"aaaaaaaa-5"' not in line]
    problems = check_lines(last_gone, seals).problems
    assert problems == ("decisions aaaaaaaa-1..aaaaaaaa-5: its last decision is missing: lines were removed",)


def test_a_foreign_log_matches_no_seal() -> None:
    _, seals = interleaved()
    problems = check_lines(written("cccccccc", 1, 9), seals).problems
    assert len(problems) == 4 and all("not in the log" in p for p in problems)


@given(st.data())
def test_any_single_edit_inside_the_sealed_runs_is_caught(data: st.DataObject) -> None:
    lines, seals = interleaved()
    edit = data.draw(st.sampled_from(["change", "remove", "duplicate", "swap"]))
    at = data.draw(st.integers(0, len(lines) - 1))
    edited = list(lines)
    if edit == "change":
        position = data.draw(st.integers(0, len(edited[at]) - 2))  # any byte but the newline
        byte = data.draw(st.integers(0, 255).filter(lambda b: b != edited[at][position] and b != 10))
        edited[at] = edited[at][:position] + bytes([byte]) + edited[at][position + 1:]
    elif edit == "remove":
        del edited[at]
    elif edit == "duplicate":
        edited.insert(at, edited[at])
    else:
        other = data.draw(st.integers(0, len(lines) - 1).filter(
            lambda i: i != at and _id(lines[i])[:8] == _id(lines[at])[:8]))  # two lines of one process
        edited[at], edited[other] = edited[other], edited[at]
    assert check_lines(edited, seals).problems, f"{edit} at line {at} went unnoticed"


def test_a_seal_from_the_audit_log_round_trips_and_bad_details_are_refused() -> None:
    _, seals = interleaved()
    assert DecisionSeal.from_details(seals[0].details()) == seals[0]
    with pytest.raises(ValueError, match="no 'sha256'"):
        DecisionSeal.from_details({k: v for k, v in seals[0].details().items() if k != "sha256"})
    with pytest.raises(ValueError, match="not a positive number"):
        DecisionSeal.from_details({**seals[0].details(), "count": "3"})
    with pytest.raises(ValueError, match="not a decision id"):
        DecisionSeal.from_details({**seals[0].details(), "last": "bbbbbbbb-9"})


def _record(log: DecisionLog, count: int) -> None:
    for n in range(count):
        log.record(log.next_id(), NOW, f"device-{n}", "mail", "GET", "/inbox", "tok_1", ALLOWED)


def test_the_writer_seals_what_it_wrote_and_keeps_a_run_the_database_refused(tmp_path: Path) -> None:
    stored: list[DecisionSeal] = []
    refuse = [True]

    def sealer(seal: DecisionSeal) -> None:
        if refuse[0]:
            raise ConnectionError("database is away")
        stored.append(seal)

    path = tmp_path / "decisions.jsonl"
    log = DecisionLog(path, sealer=sealer, seal_every=0.05)
    log.start()
    _record(log, 300)
    deadline = time.monotonic() + 5
    while log.written < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # a few sealing rounds, all refused
    assert stored == [] and log.sealed == 0
    refuse[0] = False
    _record(log, 200)
    log.close()
    assert sum(seal.count for seal in stored) == 500 == log.sealed
    assert stored[0].count >= 300  # the refused run was sealed with what followed it, not lost
    lines = path.read_bytes().splitlines(keepends=True)
    checked = check_lines(lines, stored)
    assert checked.problems == () and checked.unsealed == 0 and checked.lines == 500
