import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.datagen import generate_customers
from {{cookiecutter.package_name}}.settings import (
    DataSettings,
    LoggingSettings,
    Settings,
    StorageSettings,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test from the project root, where configs/ and data/ live."""
    monkeypatch.chdir(PROJECT_ROOT)


@pytest.fixture
def customers() -> pd.DataFrame:
    return generate_customers(400, seed=7)


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh memory:// folder, removed after the test."""
    root = f"memory://test-{uuid.uuid4().hex}"
    yield root
    filesystem = fsspec.filesystem("memory")
    if filesystem.exists(root):
        filesystem.rm(root, recursive=True)


@pytest.fixture
def memory_settings(memory_root: str, customers: pd.DataFrame) -> Settings:
    """Settings whose every URI is on the memory:// filesystem, with data in place."""
    train_uri = io.join(memory_root, "data", "customers.csv")
    io.write_csv(train_uri, customers)
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
        logging=LoggingSettings(format="console"),
    )
