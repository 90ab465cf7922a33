import asyncio

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
