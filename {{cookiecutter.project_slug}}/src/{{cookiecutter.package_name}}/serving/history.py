"""Prediction history: written before the answer (durable) or in the background.

Durable mode (the default): a request's rows join a group; one committer task writes
each group in a single INSERT and transaction, and every request of the group waits
for that commit before it answers. While one commit runs, the next requests form the
next group, so under load many requests share a transaction (a database's group
commit) and an acknowledged prediction is always stored. A failed commit fails the
requests of its group: nothing they were told is lost, because they were told nothing.

Background mode: requests append their rows and answer at once; the committer writes
what has accumulated every `flush_interval` seconds (sooner once `flush_rows` rows
wait) and once more at shutdown. Rows whose write fails stay queued and are retried,
and a process killed in between loses what was queued.

In both modes at most `max_pending` rows wait (queued or being written); past that,
`add` raises HistoryFullError and the request is refused rather than queued.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Literal

from ..logs import get_logger
from ..store import PredictionRow, Store, describe_error
from .metrics import Metrics

logger = get_logger(__name__)

HistoryMode = Literal["durable", "background"]


class HistoryFullError(Exception):
    """Too many predictions wait for the store: the request is refused, not queued."""


class HistoryWriter:
    """Writes prediction rows to the store, group-committed (durable) or in the background."""

    def __init__(
        self,
        store: Store,
        mode: HistoryMode,
        flush_interval: float,
        flush_rows: int,
        max_pending: int,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.mode = mode
        self.flush_interval = flush_interval
        self.flush_rows = flush_rows
        self.max_pending = max_pending
        self.last_write_ok = True
        self._pending: list[PredictionRow] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        metrics.history_pending.set_function(lambda: self.pending)

    @property
    def pending(self) -> int:
        """Rows not yet committed: queued, or in a write under way."""
        return len(self._pending)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _admit(self, rows: Sequence[PredictionRow]) -> None:
        if self.pending + len(rows) > self.max_pending:
            raise HistoryFullError(
                f"{self.pending} predictions wait for the store"
                f" (store.history_max_pending is {self.max_pending})"
            )
        self._pending.extend(rows)

    async def add(self, rows: Sequence[PredictionRow]) -> None:
        """Queue `rows`; in durable mode, return once they are committed."""
        if not rows:
            return
        self._admit(rows)
        if self.mode == "background":
            if self.pending >= self.flush_rows:
                self._wake.set()
            return
        if self._task is None:  # not started, or stopped: write in the caller's turn
            await self.flush()
            return
        done = asyncio.get_running_loop().create_future()
        self._waiters.append((len(self._pending), done))
        self._wake.set()
        await done

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="history-writer")

    async def stop(self) -> None:
        """Stop the committer and write everything still queued (logged if it cannot be)."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            await task
        try:
            await self.flush()
        except Exception as error:
            logger.error("history.lost", rows=self.pending, error=describe_error(error))

    async def flush(self) -> int:
        """Write the queued rows now, in one transaction; return how many were written.

        Rows stay counted as pending until their commit succeeds; on failure they stay
        queued (background mode) or fail their requests (durable mode), and the error
        is raised.
        """
        async with self._lock:
            count = len(self._pending)
            if count == 0:
                return 0
            rows = self._pending[:count]
            waiters = [waiter for waiter in self._waiters if waiter[0] <= count]
            try:
                await asyncio.to_thread(self.store.log_predictions, rows)
            except Exception as error:
                self.last_write_ok = False
                self.metrics.history_failures.inc()
                if self.mode == "durable":
                    self._settle(count, waiters, error)
                raise
            self.last_write_ok = True
            self.metrics.history_commit_rows.observe(count)
            self._settle(count, waiters, None)
            return count

    def _settle(
        self, count: int, waiters: list[tuple[int, asyncio.Future[None]]], error: Exception | None
    ) -> None:
        """Drop the first `count` rows and answer the requests that were waiting on them."""
        del self._pending[:count]
        self._waiters = [(end - count, done) for end, done in self._waiters[len(waiters) :]]
        for _, done in waiters:
            if done.done():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    async def _run(self) -> None:
        while not self._stopping:
            if self.mode == "background":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            else:
                await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception as error:
                logger.error(
                    "history.write_failed", pending=self.pending, error=describe_error(error)
                )
                if self.mode == "background":
                    continue
                # A failing store fails each group at once; pause so a burst of
                # requests does not hammer it.
                await asyncio.sleep(min(self.flush_interval, 0.1))
