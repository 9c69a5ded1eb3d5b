"""Lifecycle: states by date, allowed transitions, and what is due for review."""

from __future__ import annotations

import dataclasses
import datetime as dt

from appban.model import Lifecycle
from appban.policy import DueKind, check_transition, due, lifecycle, parse_restriction

from .seed import restriction

BASE = """\
id: x
issuer: eu-commission
title: X
status: {status}
targets: [{{family: tiktok}}]
strictness: require
effective: 2024-01-01
"""


def test_belgian_ban_lapses_after_six_months() -> None:
    be = restriction("be-federal-tiktok-2023")
    assert lifecycle(be, dt.date(2023, 9, 9)) is Lifecycle.ACTIVE
    assert lifecycle(be, dt.date(2023, 9, 10)) is Lifecycle.EXPIRED


def test_due_lists_review_then_expiry() -> None:
    be = restriction("be-federal-tiktok-2023")
    eu = restriction("eu-commission-tiktok-2023")
    items = due([eu, be], dt.date(2023, 8, 1), dt.timedelta(days=45))
    assert [(d.restriction.id, d.kind, d.days_left) for d in items] == [
        ("be-federal-tiktok-2023", DueKind.REVIEW, 9), ("be-federal-tiktok-2023", DueKind.EXPIRY, 40)]
    overdue = due([be], dt.date(2023, 8, 20), dt.timedelta(days=0))
    assert [(d.kind, d.overdue) for d in overdue] == [(DueKind.REVIEW, True)]
    assert due([be], dt.date(2023, 9, 10), dt.timedelta(days=365)) == []  # expired: nothing left to review


def test_revoked_is_final_and_active_cannot_return_to_draft() -> None:
    revoked = parse_restriction(BASE.format(status="revoked"), "x.yaml").restriction
    active = parse_restriction(BASE.format(status="active"), "x.yaml")
    draft = parse_restriction(BASE.format(status="draft"), "x.yaml")
    problem = check_transition(revoked, active)
    assert problem is not None and str(problem).startswith("x.yaml:4:9: restriction `x` was revoked")
    assert check_transition(active.restriction, draft) is not None
    assert check_transition(draft.restriction, active) is None
    assert check_transition(active.restriction, active) is None


def test_issuer_cannot_change() -> None:
    active = parse_restriction(BASE.format(status="active"), "x.yaml")
    moved = dataclasses.replace(active.restriction, issuer="be-federal")
    problem = check_transition(moved, active)
    assert problem is not None and "cannot change" in problem.message
