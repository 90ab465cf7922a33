"""Micro-batching: concurrent requests share one model call.

Callers `submit` their records and await the result. A single worker task takes
whatever is queued, runs the batch function once and hands each caller its share.
While the model runs, new requests queue up and form the next batch, so under load
batches grow by themselves and the model is called far less often than once per
request.

The function runs on the event loop itself unless an `executor` is given. A batch
takes a millisecond or two, most of it holding the GIL: a worker thread would not
run it in parallel with the loop, and handing it over costs each batch two thread
wake-ups and GIL hand-offs that delay every request waiting on the loop.

The worker never waits idle: a request alone is scored at once. Before a batch
starts, the worker lets the event loop run the requests it is already handling;
while that brings more records it keeps collecting, for at most `max_wait` seconds
and `max_batch_size` records.
"""

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..logs import get_logger

T = TypeVar("T")
R = TypeVar("R")

logger = get_logger(__name__)


@dataclass
class _Job(Generic[T, R]):
    items: Sequence[T]
    future: asyncio.Future[list[R]] = field(repr=False)


class BatcherClosedError(RuntimeError):
    """The batcher is not running (the service is starting or shutting down)."""


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        function: Callable[[list[T]], list[R]],
        max_batch_size: int = 64,
        max_wait: float = 0.002,
        executor: Executor | None = None,
    ) -> None:
        self.function = function
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.batches = 0
        self._queue: asyncio.Queue[_Job[T, R]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Finish the queued work, then stop."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        await self._queue.join()
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Results for `items`, in order, computed in a batch with other callers' items."""
        if self._worker is None:
            raise BatcherClosedError("the micro-batcher is not running")
        job: _Job[T, R] = _Job(items, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(job)
        return await job.future

    def _take_queued(self, jobs: list[_Job[T, R]], size: int) -> int:
        while size < self.max_batch_size and not self._queue.empty():
            job = self._queue.get_nowait()
            jobs.append(job)
            size += len(job.items)
        return size

    async def _collect(self, jobs: list[_Job[T, R]]) -> None:
        """Add queued jobs to `jobs` while the event loop keeps bringing more."""
        size = self._take_queued(jobs, sum(len(job.items) for job in jobs))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while size < self.max_batch_size and loop.time() < deadline:
            await asyncio.sleep(0)  # one turn of the loop: requests under way may submit
            if self._queue.empty():
                return
            size = self._take_queued(jobs, size)

    async def _run(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            await self._collect(jobs)
            try:
                await self._process(jobs)
            finally:
                for _ in jobs:
                    self._queue.task_done()

    async def _process(self, jobs: list[_Job[T, R]]) -> None:
        items = [item for job in jobs for item in job.items]
        try:
            if self.executor is None:
                results = self.function(items)
            else:
                loop = asyncio.get_running_loop()
                results = await loop.run_in_executor(self.executor, self.function, items)
        except Exception as error:
            logger.exception("batch.failed", size=len(items))
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        self.batches += 1
        start = 0
        for job in jobs:
            end = start + len(job.items)
            if not job.future.done():
                job.future.set_result(results[start:end])
            start = end
