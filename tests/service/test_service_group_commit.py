"""Group commit (issue 8): jobs from many threads are done in batches, each submitter gets its own result.

The pushes of device-management systems are stored this way; here the batching itself is checked with a
run function that records what it was given, so that grouping, order, and failures are seen exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appban.service import GroupCommit


class Recorder:
    """A run function: doubles each job, fails a batch holding a negative job, and keeps every batch that
    "committed" (ran without failing)."""

    def __init__(self, hold_first: threading.Event | None = None) -> None:
        self.hold_first = hold_first
        self.started = threading.Event()
        self.committed: list[list[int]] = []
        self.tried: list[list[int]] = []
        self.lock = threading.Lock()

    def __call__(self, jobs: Sequence[int]) -> list[int | Exception]:
        self.started.set()
        if self.hold_first is not None and not self.tried:
            self.hold_first.wait(10)
        with self.lock:
            self.tried.append(list(jobs))
        if any(job < 0 for job in jobs):
            raise ValueError(f"job {min(jobs)} is bad")
        with self.lock:
            self.committed.append(list(jobs))
        return [job * 2 if job % 7 else ValueError(f"job {job} refused") for job in jobs]


def _answer(commit: GroupCommit[int, int], job: int, answers: dict[int, int | str]) -> None:
    """A submitter thread: its job's result, or its error's message."""
    try:
        answers[job] = commit.submit(job)
    except ValueError as error:
        answers[job] = str(error)


def _submit_all(commit: GroupCommit[int, int], jobs: Sequence[int]) -> dict[int, int | str]:
    answers: dict[int, int | str] = {}
    threads = [threading.Thread(target=_answer, args=(commit, job, answers)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return answers


def _behind_a_held_batch(commit: GroupCommit[int, int], run: Recorder, hold: threading.Event,
                         jobs: Sequence[int]) -> dict[int, int | str]:
    """Job 1 starts a batch that `hold` keeps running while `jobs` queue up behind it, one at a time (so their
    order of arrival is known); then the batch ends and everything is answered."""
    answers: dict[int, int | str] = {}
    threads = [threading.Thread(target=_answer, args=(commit, 1, answers))]
    threads[0].start()
    assert run.started.wait(5)
    for index, job in enumerate(jobs):
        threads.append(threading.Thread(target=_answer, args=(commit, job, answers)))
        threads[-1].start()
        while len(commit._queue) < index + 1:
            threading.Event().wait(0.001)
    hold.set()
    for thread in threads:
        thread.join(10)
    return answers


def test_jobs_that_arrive_during_a_batch_are_done_together_in_order_of_arrival() -> None:
    hold = threading.Event()
    run = Recorder(hold_first=hold)
    commit: GroupCommit[int, int] = GroupCommit(run, lambda queued: len(queued))
    assert _behind_a_held_batch(commit, run, hold, [2, 3, 4, 5]) == {1: 2, 2: 4, 3: 6, 4: 8, 5: 10}
    assert run.committed == [[1], [2, 3, 4, 5]]
    assert (commit.batches, commit.jobs) == (2, 5)


def test_take_limits_a_batch() -> None:
    hold = threading.Event()
    run = Recorder(hold_first=hold)
    commit: GroupCommit[int, int] = GroupCommit(run, lambda queued: 2)
    _behind_a_held_batch(commit, run, hold, [2, 3, 4, 5, 6])
    assert run.committed == [[1], [2, 3], [4, 5], [6]]


def test_a_failing_batch_is_run_again_job_by_job_and_only_the_bad_job_fails() -> None:
    hold = threading.Event()
    run = Recorder(hold_first=hold)
    commit: GroupCommit[int, int] = GroupCommit(run, lambda queued: len(queued))
    answers = _behind_a_held_batch(commit, run, hold, [2, -3, 4])
    assert answers == {1: 2, 2: 4, -3: "job -3 is bad", 4: 8}
    assert run.tried == [[1], [2, -3, 4], [2], [-3], [4]]
    assert run.committed == [[1], [2], [4]]  # each good job committed once


def test_a_result_that_is_an_exception_is_raised_to_its_submitter_alone() -> None:
    commit: GroupCommit[int, int] = GroupCommit(Recorder(), lambda queued: len(queued))
    assert _submit_all(commit, [5, 14, 6]) == {5: 10, 14: "job 14 refused", 6: 12}


def test_a_run_giving_the_wrong_number_of_results_fails_each_job() -> None:
    commit: GroupCommit[int, int] = GroupCommit(lambda jobs: [], lambda queued: len(queued))
    with pytest.raises(RuntimeError, match="a batch of 1 jobs gave 0 results"):
        commit.submit(1)


@settings(max_examples=25, deadline=None)
@given(jobs=st.lists(st.integers(-3, 40), min_size=1, max_size=24, unique=True), most=st.integers(1, 6))
def test_every_submitter_gets_its_own_answer_and_every_good_job_commits_once(jobs: list[int], most: int) -> None:
    run = Recorder()
    commit: GroupCommit[int, int] = GroupCommit(run, lambda queued: most)
    answers = _submit_all(commit, jobs)
    expected = {job: (f"job {job} is bad" if job < 0 else f"job {job} refused" if job % 7 == 0 else job * 2)
                for job in jobs}
    assert answers == expected
    committed = [job for batch in run.committed for job in batch]
    assert sorted(committed) == sorted(job for job in jobs if job >= 0)
    assert all(len(batch) <= most for batch in run.tried)
