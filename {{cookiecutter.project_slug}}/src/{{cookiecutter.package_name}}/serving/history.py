"""Prediction history written in the background, off the request path.

Requests only append to an in-memory list. A background task writes what has
accumulated every `flush_interval` seconds (sooner once `flush_rows` rows wait), in
one transaction per flush, and a final flush runs at shutdown. Rows whose write
fails stay queued and are retried on the next flush, so none is dropped.
"""

import asyncio
import contextlib
from collections.abc import Iterable

from sqlalchemy.exc import SQLAlchemyError

from ..logs import get_logger
from ..store import PredictionRow, Store

logger = get_logger(__name__)


class HistoryWriter:
    def __init__(self, store: Store, flush_interval: float, flush_rows: int) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.flush_rows = flush_rows
        self._pending: list[PredictionRow] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, rows: Iterable[PredictionRow]) -> None:
        self._pending.extend(rows)
        if len(self._pending) >= self.flush_rows:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="history-writer")

    async def stop(self) -> None:
        """Stop the background task and write everything still queued."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            await task
        await self.flush()

    async def flush(self) -> int:
        """Write the queued rows now; return how many were written."""
        async with self._lock:
            rows, self._pending = self._pending, []
            if not rows:
                return 0
            try:
                await asyncio.to_thread(self.store.log_predictions, rows)
            except Exception:
                self._pending[:0] = rows
                raise
            return len(rows)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            try:
                await self.flush()
            except SQLAlchemyError as error:
                logger.error("history.flush_failed", pending=self.pending, error=str(error))
