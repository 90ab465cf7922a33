"""What an acknowledged prediction is worth: stored before it is answered, by default.

Durable mode over a real server killed with SIGKILL under load; background mode's
bounded queue against a store whose writes really fail; no parameters in the logs.
"""

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from {{cookiecutter.package_name}}.contracts import ID_COLUMN
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.settings import ENV_PREFIX, Settings
from {{cookiecutter.package_name}}.store import Store
from tests.conftest import PROJECT_ROOT, another_id, fresh_store_url, needs_id
from tests.serving.conftest import Server, record


@contextmanager
def failing_writes(url: str) -> Iterator[None]:
    """History writes fail for real: the predictions table is renamed away, then back."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE predictions RENAME TO predictions_away"))
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE predictions_away RENAME TO predictions"))
        engine.dispose()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll `condition`; fail naming `what` if it never holds (a guard, not a timing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.01)


def metric(client: TestClient, name: str) -> float:
    """The value of an unlabelled metric from GET /metrics."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def test_every_acknowledged_prediction_survives_sigkill(
    tmp_path: Path, sample: pd.DataFrame
) -> None:
    """Concurrent clients; the server is killed mid-load; every 200 is in the store."""
    clients, acknowledged_before_kill = 32, 200
    with fresh_store_url(tmp_path) as store_url:
        server = Server(tmp_path, store_url)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(PROJECT_ROOT)
            train(server.settings())
        server.start()
        assert server.process is not None
        process = server.process

        async def load() -> list[str]:
            acknowledged: list[str] = []
            killed = asyncio.Event()

            async def client(number: int) -> None:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as session:
                    row = number
                    while not killed.is_set():
                        try:
                            response = await session.post(
                                "/predict", json=record(sample, row % len(sample))
                            )
                        except httpx.TransportError:
                            return
                        if response.status_code == 200:
                            acknowledged.extend(
                                item["prediction_id"] for item in response.json()["predictions"]
                            )
                        if len(acknowledged) >= acknowledged_before_kill and not killed.is_set():
                            process.send_signal(signal.SIGKILL)
                            killed.set()
                        row += clients

            await asyncio.gather(*(client(number) for number in range(clients)))
            return acknowledged

        acknowledged = asyncio.run(load())
        process.wait(timeout=30)

        store = Store(store_url)
        stored, _ = store.history(limit=100_000)
        store.close()

    assert process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= acknowledged_before_kill
    missing = set(acknowledged) - {row.id for row in stored}
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged predictions lost"


def test_background_queue_is_bounded_and_its_gauge_counts_rows_being_retried(
    trained_settings: Settings, table: pd.DataFrame
) -> None:
    store = trained_settings.store.model_copy(
        update={
            "history_mode": "background",
            "history_max_pending": 5,
            "flush_interval_seconds": 0.05,
        }
    )
    settings = trained_settings.model_copy(update={"store": store})
    with TestClient(create_app(settings)) as client:
        with failing_writes(store.url):
            for row in range(5):
                assert client.post("/predict", json=record(table, row)).status_code == 200
            wait_until(
                lambda: metric(client, "history_write_failures_total") >= 2,
                "the writer has tried, and failed, twice: the rows stay queued",
            )
            pending = metric(client, "history_pending_rows")
            refused = client.post("/predict", json=record(table, 5))

        assert pending == 5
        assert refused.status_code == 503
        assert refused.headers["retry-after"].isdigit()
        assert "history_max_pending" in refused.json()["detail"]
        assert metric(client, "history_refused_total") == 1
        assert client.get("/history").json()["total"] == 5  # retried once the store is back
        assert metric(client, "history_pending_rows") == 0


def test_durable_mode_answers_503_when_the_write_fails_and_stores_nothing_unacknowledged(
    trained_settings: Settings, table: pd.DataFrame
) -> None:
    with TestClient(create_app(trained_settings)) as client:
        with failing_writes(trained_settings.store.url):
            failed = client.post("/predict", json=record(table, 0))
            health = client.get("/health").json()
        stored = client.post("/predict", json=record(table, 1))
        total = client.get("/history").json()["total"]

    assert failed.status_code == 503
    assert failed.headers["retry-after"].isdigit()
    assert health["detail"]["history_writes_ok"] is False
    assert stored.status_code == 200
    assert total == 1


@needs_id
def test_a_failing_write_logs_no_record_data(
    trained_settings: Settings, table: pd.DataFrame, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = another_id(4711)
    assert ID_COLUMN is not None
    body = record(table, 0) | {ID_COLUMN: secret}
    for mode in ("durable", "background"):
        store = trained_settings.store.model_copy(
            update={"history_mode": mode, "flush_interval_seconds": 0.05}
        )
        with TestClient(create_app(trained_settings.model_copy(update={"store": store}))) as client:
            with failing_writes(store.url):
                answer = client.post("/predict", json=body)
                wait_until(
                    lambda: metric(client, "history_write_failures_total") >= 1,
                    "a failed history write",
                )
            if mode == "durable":  # background mode answered 200 before writing
                assert answer.status_code == 503
                assert secret not in answer.text

    output = capfd.readouterr()
    assert "history.write_failed" in output.out + output.err
    assert secret not in output.out + output.err


def test_server_can_run_in_background_mode(tmp_path: Path, sample: pd.DataFrame) -> None:
    """The opt-in mode over a real server: answered at once, stored by the shutdown flush."""
    with fresh_store_url(tmp_path) as store_url:
        server = Server(tmp_path, store_url)
        server.overrides[f"{ENV_PREFIX}STORE__HISTORY_MODE"] = "background"
        server.overrides[f"{ENV_PREFIX}STORE__FLUSH_INTERVAL_SECONDS"] = "60"
        server.env = os.environ | server.overrides
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(PROJECT_ROOT)
            train(server.settings())
        server.start()
        with httpx.Client(base_url=server.url) as client:
            for row in range(10):
                client.post("/predict", json=record(sample, row)).raise_for_status()
            pending = client.get("/metrics").text
        server.stop()
        store = Store(store_url)
        count = store.count_predictions()
        store.close()

    assert "history_pending_rows 10.0" in pending
    assert count == 10
