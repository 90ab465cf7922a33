import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from {{cookiecutter.package_name}}.serving.batcher import BatcherClosedError, MicroBatcher


def test_concurrent_callers_share_model_calls() -> None:
    calls: list[list[int]] = []

    def double(items: list[int]) -> list[int]:
        calls.append(items)
        return [item * 2 for item in items]

    async def run() -> list[list[int]]:
        batcher = MicroBatcher(double, max_batch_size=8, max_wait=0.01)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([n, n + 100]) for n in range(20)))
        await batcher.stop()
        return results

    results = asyncio.run(run())

    assert results == [[n * 2, (n + 100) * 2] for n in range(20)]
    assert len(calls) < 20
    assert all(len(batch) <= 8 for batch in calls)


def test_a_failing_batch_fails_its_callers_only() -> None:
    def explode(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky")
        return items

    async def run() -> tuple[BaseException | list[int], list[int]]:
        batcher = MicroBatcher(explode, max_batch_size=1, max_wait=0)
        batcher.start()
        failed, ok = await asyncio.gather(
            batcher.submit([13]), batcher.submit([1]), return_exceptions=True
        )
        await batcher.stop()
        assert isinstance(ok, list)
        return failed, ok

    failed, ok = asyncio.run(run())

    assert isinstance(failed, ValueError)
    assert ok == [1]


def test_submit_needs_a_running_batcher() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(list, max_batch_size=4)
    with pytest.raises(BatcherClosedError):
        asyncio.run(batcher.submit([1]))


def test_a_lone_request_is_scored_without_waiting_for_company() -> None:
    calls: list[list[int]] = []

    def record(items: list[int]) -> list[int]:
        calls.append(items)
        return items

    async def run() -> list[list[int]]:
        # An hour of max_wait: a batcher that waited for more records would never answer.
        batcher = MicroBatcher(record, max_batch_size=64, max_wait=3600)
        batcher.start()
        answers = [await asyncio.wait_for(batcher.submit([n]), timeout=60) for n in range(5)]
        await batcher.stop()
        return answers

    assert asyncio.run(run()) == [[0], [1], [2], [3], [4]]
    assert calls == [[0], [1], [2], [3], [4]]


def test_requests_arriving_while_the_model_runs_form_the_next_batch() -> None:
    calls: list[list[int]] = []
    release = threading.Event()

    def slow(items: list[int]) -> list[int]:
        calls.append(items)
        release.wait(timeout=60)
        return items

    async def run() -> None:
        with ThreadPoolExecutor(max_workers=1) as model_thread:
            batcher = MicroBatcher(slow, max_batch_size=64, max_wait=0, executor=model_thread)
            batcher.start()
            first = asyncio.create_task(batcher.submit([0]))
            while not calls:  # the first batch is running
                await asyncio.sleep(0.001)
            later = [asyncio.create_task(batcher.submit([n])) for n in range(1, 11)]
            await asyncio.sleep(0.01)
            release.set()
            await asyncio.gather(first, *later)
            await batcher.stop()

    asyncio.run(run())

    assert calls == [[0], list(range(1, 11))]
