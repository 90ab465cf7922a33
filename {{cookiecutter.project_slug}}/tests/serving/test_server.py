"""The service as deployed: the `serve` command in a subprocess, over a real socket.

The tests share one server and run in file order; the last one shuts it down.
"""

import asyncio
import signal
from typing import Any

import httpx
import pandas as pd
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from {{cookiecutter.package_name}}.contracts import ID_COLUMN
from {{cookiecutter.package_name}}.store import Store
from tests.serving.conftest import Server, assert_answer, entity, record


def test_predict_then_history(server: Server, sample: pd.DataFrame) -> None:
    with httpx.Client(base_url=server.url) as client:
        prediction = client.post("/predict", json=record(sample, 10)).json()["predictions"][0]
        made = [prediction["prediction_id"]]
        if ID_COLUMN is not None:
            known = client.get(f"/predict/{entity(sample, 11)}").json()
            assert known["source"] == "online-features"
            made.append(known["prediction_id"])
        history = client.get("/history", params={"limit": len(made)}).json()

    assert_answer(prediction)
    assert {item["prediction_id"] for item in history["items"]} == set(made)


def test_concurrent_requests_are_all_answered_and_logged(
    server: Server, sample: pd.DataFrame
) -> None:
    requests, clients = 400, 64

    async def run() -> tuple[list[str], int]:
        gate = asyncio.Semaphore(clients)
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
            before = (await client.get("/history", params={"limit": 1})).json()["total"]

            async def one(row: int) -> str:
                async with gate:
                    response = await client.post("/predict", json=record(sample, row))
                response.raise_for_status()
                prediction_id: str = response.json()["predictions"][0]["prediction_id"]
                return prediction_id

            ids = await asyncio.gather(*(one(row) for row in range(requests)))
            after = (await client.get("/history", params={"limit": 1})).json()["total"]
            metrics = (await client.get("/metrics")).text
        assert "model_batch_size" in metrics
        return list(ids), after - before

    ids, logged = asyncio.run(run())

    assert len(set(ids)) == requests
    assert logged == requests


def test_no_server_errors_for_requests_generated_from_the_openapi_schema(server: Server) -> None:
    """Schemathesis generates requests for every operation of the service's own schema."""
    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 9

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_server_error(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()


def test_shutdown_flushes_the_history(server: Server, sample: pd.DataFrame) -> None:
    with httpx.Client(base_url=server.url) as client:
        total = client.get("/history", params={"limit": 1}).json()["total"]
        for row in range(20):
            client.post("/predict", json=record(sample, row)).raise_for_status()

    assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once done
    assert Store(server.settings().store.url).count_predictions() == total + 20
