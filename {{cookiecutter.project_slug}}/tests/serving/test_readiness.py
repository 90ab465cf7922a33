"""Readiness means "this process can answer /predict"; store health is reported apart.

Two real outages: the database replaced by an empty one (its tables gone), and the
database down (PostgreSQL refusing connections to it; an open SQLite file cannot go
down, so that case needs a PostgreSQL store).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.settings import Settings
from {{cookiecutter.package_name}}.store import metadata
from tests.serving.conftest import record


def store_up(client: TestClient) -> float:
    (line,) = [
        line for line in client.get("/metrics").text.splitlines() if line.startswith("store_up ")
    ]
    return float(line.split()[1])


@contextmanager
def database_down(url: str) -> Iterator[None]:
    """PostgreSQL refuses every connection to the database, open ones are ended; then back."""
    database = sa.make_url(url)
    server = sa.create_engine(database.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = server.dialect.identifier_preparer.quote(str(database.database))
    try:
        with server.connect() as connection:
            connection.execute(sa.text(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"))
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": database.database},
            )
        yield
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"))
        server.dispose()


def with_history_mode(settings: Settings, mode: str) -> Settings:
    return settings.model_copy(
        update={"store": settings.store.model_copy(update={"history_mode": mode})}
    )


@pytest.mark.parametrize("mode", ["durable", "background"])
def test_database_replaced_by_an_empty_one(
    trained_settings: Settings, table: pd.DataFrame, mode: str
) -> None:
    with TestClient(create_app(with_history_mode(trained_settings, mode))) as client:
        assert client.get("/health").json()["detail"]["store"] is True
        assert store_up(client) == 1
        engine = sa.create_engine(trained_settings.store.url)
        metadata.drop_all(engine)
        engine.dispose()

        ready = client.get("/ready")
        health = client.get("/health").json()
        up = store_up(client)
        answer = client.post("/predict", json=record(table))

    assert ready.status_code == 200
    assert health == {"status": "ok", "detail": {"store": False, "history_writes_ok": True}}
    assert up == 0
    if mode == "durable":  # the prediction cannot be stored, so it is not given
        assert answer.status_code == 503
        assert answer.headers["retry-after"].isdigit()
    else:
        assert answer.status_code == 200


@pytest.mark.parametrize("mode", ["durable", "background"])
def test_database_down(trained_settings: Settings, table: pd.DataFrame, mode: str) -> None:
    if sa.make_url(trained_settings.store.url).get_backend_name() != "postgresql":
        pytest.skip("an open SQLite file cannot go down; run with a PostgreSQL store")
    with TestClient(create_app(with_history_mode(trained_settings, mode))) as client:
        with database_down(trained_settings.store.url):
            ready = client.get("/ready")
            health = client.get("/health").json()
            up = store_up(client)
            answer = client.post("/predict", json=record(table))
        back = client.get("/health").json()
        history = client.get("/history").json()

    assert ready.status_code == 200
    assert ready.json()["detail"] == {"model": True, "batcher": True, "history": True}
    assert health["detail"]["store"] is False
    assert up == 0
    assert back["detail"]["store"] is True
    if mode == "durable":
        assert answer.status_code == 503
        assert history["total"] == 0
    else:  # answered during the outage, written once the database is back
        assert answer.status_code == 200
        assert history["total"] == 1


def test_not_ready_once_the_service_stops(trained_settings: Settings) -> None:
    app = create_app(trained_settings)
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200
        service = app.state.service
    assert service.ready == {"model": True, "batcher": False, "history": False}
