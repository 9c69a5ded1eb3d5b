"""Group commit: jobs from many threads done a batch at a time, in one transaction, by one of their waiters.

Sources push inventory a device at a time, many a second. Each push alone costs about fifteen statements
and a commit, most of which are the same for ten pushes as for one (locks, reads of the devices, findings
and exemptions, the writes). So pushes that arrive while one is being stored wait for it and are then stored
together: under light load a push is stored at once, alone; under heavy load batches grow by themselves, as
in a database's group commit of its log, and throughput rises instead of queues.

No thread of its own: a waiting caller whose job is still queued, when no batch is running, takes the
queue's head and runs it (leader and followers), so there is nothing to start or stop. A batch whose run
fails is run again job by job, so one bad job fails alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

J = TypeVar("J")
R = TypeVar("R")


@dataclass(slots=True)
class _Entry(Generic[J, R]):
    job: J
    done: bool = False
    result: R | None = None
    error: Exception | None = None


class GroupCommit(Generic[J, R]):
    """`submit(job)` returns the job's result once a batch holding it has run.

    `run` does a batch and returns, in order, each job's result or the exception to raise to its submitter; an
    exception raised by `run` itself fails the batch, which is then run again one job at a time. `take` says
    how many jobs from the head of the queue (in order of arrival, at least one) may form the next batch.
    Safe to call from any number of threads.
    """

    def __init__(self, run: Callable[[Sequence[J]], Sequence[R | Exception]],
                 take: Callable[[Sequence[J]], int]) -> None:
        self._run = run
        self._take = take
        self._condition = threading.Condition()
        self._queue: list[_Entry[J, R]] = []
        self._leading = False
        self.batches = 0  # batches run, and the jobs they held: what grouping achieved
        self.jobs = 0

    def submit(self, job: J) -> R:
        entry: _Entry[J, R] = _Entry(job)
        with self._condition:
            self._queue.append(entry)
        while True:
            with self._condition:
                while not entry.done and self._leading:
                    self._condition.wait()
                if entry.done:
                    break
                self._leading = True  # still queued and nobody runs a batch: this thread leads one
                count = min(max(1, self._take([queued.job for queued in self._queue])), len(self._queue))
                batch, self._queue[:count] = self._queue[:count], []
            try:
                self._execute(batch)
            finally:
                with self._condition:
                    self._leading = False
                    self._condition.notify_all()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]  # done without error: run gave a result

    def _execute(self, batch: list[_Entry[J, R]]) -> None:
        try:
            outcomes: Sequence[R | Exception] = self._run([entry.job for entry in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} jobs gave {len(outcomes)} results")
        except Exception as error:
            if len(batch) == 1:
                outcomes = [error]
            else:  # which job failed it is unknown: each runs alone, and only its own failure is its own
                for entry in batch:
                    self._execute([entry])
                return
        self.batches += 1
        self.jobs += len(batch)
        for entry, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                entry.error = outcome
            else:
                entry.result = outcome
            entry.done = True
