import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec
import pandas as pd
import pytest
import sqlalchemy as sa
import structlog

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.datagen import generate
from {{cookiecutter.package_name}}.settings import (
    DataSettings,
    LoggingSettings,
    Settings,
    StorageSettings,
    StoreSettings,
    load_settings,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test from the project root, where configs/ and data/ live."""
    monkeypatch.chdir(PROJECT_ROOT)


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Commands point logging at their test's captured stderr; undo that afterwards."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def table() -> pd.DataFrame:
    """400 labelled rows drawn from the contract (whatever the table is)."""
    return generate(400, seed=7)


@pytest.fixture
def customers(table: pd.DataFrame) -> pd.DataFrame:
    return table


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh memory:// folder, removed after the test."""
    root = f"memory://test-{uuid.uuid4().hex}"
    yield root
    filesystem = fsspec.filesystem("memory")
    if filesystem.exists(root):
        filesystem.rm(root, recursive=True)


@contextmanager
def fresh_store_url(folder: Path) -> Iterator[str]:
    """A fresh, empty prediction store of the kind configs/local.yaml uses.

    PostgreSQL: a database of its own on the configured server, dropped afterwards
    (the server must be running; the test fails otherwise). SQLite: a file in `folder`.
    """
    configured = sa.make_url(load_settings("local", PROJECT_ROOT / "configs").store.url)
    if configured.get_backend_name() != "postgresql":
        yield f"sqlite:///{folder / 'store.db'}"
        return
    with fresh_database(configured) as url:
        yield url


@contextmanager
def fresh_database(configured: sa.URL) -> Iterator[str]:
    """A database of its own on the PostgreSQL server of `configured`, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    server = sa.create_engine(configured.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
        try:
            yield configured.set(database=name).render_as_string(hide_password=False)
        finally:
            with server.connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        server.dispose()


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    with fresh_store_url(tmp_path) as url:
        yield url


@pytest.fixture
def memory_settings(memory_root: str, customers: pd.DataFrame, store_url: str) -> Settings:
    """Settings whose every URI is on the memory:// filesystem, with data in place."""
    train_uri = io.join(memory_root, "data", "customers.csv")
    io.write_table(train_uri, customers)
    return Settings(
        env="test",
        data=DataSettings(
            train_uri=train_uri,
            predict_input_uri=train_uri,
            predictions_uri=io.join(memory_root, "predictions", "customers.csv"),
            chunk_rows=150,
        ),
        storage=StorageSettings(
            registry_uri=io.join(memory_root, "registry"),
            reports_uri=io.join(memory_root, "reports"),
        ),
        store=StoreSettings(url=store_url, flush_interval_seconds=0.05),
        logging=LoggingSettings(format="console"),
    )
