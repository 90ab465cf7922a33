{% if cookiecutter.tracking == "mlflow" -%}
import os
import shutil
{% endif -%}
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest
import sqlalchemy as sa
import structlog
{%- if cookiecutter.tracking == "mlflow" %}
from mlflow import MlflowClient
{%- endif %}

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.contracts import (
    ID_COLUMN,
    TARGET_COLUMN,
    allowed_values,
    clean_contract,
    is_integer,
    is_number,
    is_text,
    raw_contract,
)
from {{cookiecutter.package_name}}.datagen import bounds, entity_ids, generate, patterns
{%- if cookiecutter.compute == "ray" %}
from {{cookiecutter.package_name}}.pipelines.predict_ray import ray_runtime
{%- endif %}
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.settings import (
    LOWER_IS_BETTER,
    DataSettings,
    LoggingSettings,
    Settings,
    StorageSettings,
    StoreSettings,
    TrainingSettings,
    load_settings,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test from the project root, where configs/ and data/ live."""
    monkeypatch.chdir(PROJECT_ROOT)


{%- if cookiecutter.compute == "ray" %}


@pytest.fixture(scope="session", autouse=True)
def _ray_runtime() -> Iterator[None]:
    """One local Ray runtime (two CPUs) for the session: `predict` jobs use it, as they
    would a cluster's, instead of starting and stopping one each (seconds every time)."""
    settings = load_settings("local")
    runtime = settings.runtime.model_copy(update={"threads": 2})
    with ray_runtime(settings.model_copy(update={"runtime": runtime})):
        yield
{%- endif %}


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Commands point logging at their test's captured stderr; undo that afterwards."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def table() -> pd.DataFrame:
    """400 labelled rows drawn from the contract (whatever the table is)."""
    return generate(400, seed=7)


# A text value no category list holds, and that cleaning leaves as it is.
UNKNOWN_CATEGORY = "zz-no-such-category"


def another_id(seed: int = 99) -> str:
    """A valid entity id that no generated table of a small seed holds."""
    assert ID_COLUMN is not None, "the table has no id column"
    return str(entity_ids(raw_contract.columns[ID_COLUMN], 1, seed)[0])


def refused_value(name: str) -> Any:
    """A value the raw contract refuses in column `name`, derived from its checks.

    A category it does not list, a number beyond its range, text too long or too short,
    text its pattern refuses, text in a number column, or a missing value where none is
    allowed. LookupError if the column accepts anything (free, nullable text).
    """
    column = raw_contract.columns[name]
    allowed = allowed_values(column)
    if allowed is not None:
        if is_text(column):
            return UNKNOWN_CATEGORY
        return max(float(value) for value in allowed) + 1
    low, high, _, _ = bounds(column)
    if high is not None:
        return _beyond(high, +1, integer=is_integer(column))
    if low is not None:
        return _beyond(low, -1, integer=is_integer(column))
    if is_number(column):
        return "not-a-number"
    for check in column.checks:
        if check.name == "str_length" and check.statistics.get("max_value") is not None:
            return "z" * (int(check.statistics["max_value"]) + 1)
    if any(rule.fullmatch("not matching!") is None for rule in patterns(column)):
        return "not matching!"
    if not column.nullable:
        return None
    raise LookupError(f"the raw contract accepts any value of {name!r}")


def _beyond(bound: float, direction: int, integer: bool) -> float | int:
    value = bound + direction * max(1.0, abs(bound))
    return int(value) if integer else value


def refused_values() -> dict[str, Any]:
    """A refused value (`refused_value`) for every feature column that has one."""
    values: dict[str, Any] = {}
    for name in raw_contract.columns:
        if name in {ID_COLUMN, TARGET_COLUMN}:
            continue
        try:
            values[name] = refused_value(name)
        except LookupError:
            continue
    return values


def categorical_columns() -> list[str]:
    """Text columns with a list of categories, in the raw contract or after cleaning."""
    return [
        name
        for name, column in raw_contract.columns.items()
        if name not in {ID_COLUMN, TARGET_COLUMN}
        and is_text(column)
        and (
            allowed_values(column) is not None
            or allowed_values(clean_contract.columns[name]) is not None
        )
    ]


needs_id = pytest.mark.skipif(ID_COLUMN is None, reason="the table has no id column")
no_id = pytest.mark.skipif(ID_COLUMN is not None, reason="the table has an id column")
# Tests that need a model, not a good one, train with a gate that lets any model through.
ANY_MODEL = TrainingSettings(
    gate=float("inf") if TrainingSettings().metric in LOWER_IS_BETTER else float("-inf")
)


@pytest.fixture(scope="session")
{%- if cookiecutter.tracking == "mlflow" %}
def registry_uri(mlflow_template: Path, mlflow_trained: Path) -> str:
{%- else %}
def registry_uri() -> str:
{%- endif %}
    """A registry with one model (alias "test") trained on generated rows, for the session."""
    root = f"memory://registry-{uuid.uuid4().hex}"
    train_uri = io.join(root, "records.csv")
    io.write_table(train_uri, generate(400, seed=7))
    settings = Settings(
        env="test",
        data=DataSettings(train_uri=train_uri, predict_input_uri=train_uri, predictions_uri="-"),
        training=ANY_MODEL,
        storage=StorageSettings(registry_uri=io.join(root, "registry"), reports_uri=root),
        store=StoreSettings(url="sqlite://"),
    )
{%- if cookiecutter.tracking == "mlflow" %}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_copy(mlflow_template, mlflow_trained))
        train(settings)
    session = mlflow_copy(mlflow_trained, mlflow_trained.with_name("session.db"))
    os.environ["MLFLOW_TRACKING_URI"] = session  # restored by _mlflow_session
{%- else %}
    train(settings)
{%- endif %}
    return settings.storage.registry_uri
{%- if cookiecutter.tracking == "mlflow" %}


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite database, its tables created once (copies are instant)."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(scope="session")
def mlflow_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MLflow database `registry_uri` registers the session's model in."""
    return tmp_path_factory.mktemp("mlflow-trained") / "mlflow.db"


def mlflow_copy(source: Path, target: Path) -> str:
    """The tracking URI of `target`, a fresh copy of the database `source`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session", autouse=True)
def _mlflow_session(
    mlflow_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Tests log to a database of the session (never to artifacts/local); once `registry_uri`
    trained its model, to a copy of that one's.
    """
    uri = mlflow_copy(mlflow_template, tmp_path_factory.mktemp("mlflow") / "mlflow.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri


@pytest.fixture
def fresh_mlflow(
    request: pytest.FixtureRequest,
    mlflow_template: Path,
    mlflow_trained: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """An MLflow database for this test alone: empty, or holding the model of `registry_uri`
    when the test uses it. MLFLOW_TRACKING_URI points at it.
    """
    source = mlflow_trained if "registry_uri" in request.fixturenames else mlflow_template
    uri = mlflow_copy(source, tmp_path / "mlflow" / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
{%- endif %}


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
{%- if cookiecutter.tracking == "mlflow" %}
def memory_settings(
    memory_root: str, table: pd.DataFrame, store_url: str, fresh_mlflow: str
) -> Settings:
    """Settings whose every URI is on the memory:// filesystem, with data in place.

    MLflow logs to a database of the test's own (`fresh_mlflow`).
    """
{%- else %}
def memory_settings(memory_root: str, table: pd.DataFrame, store_url: str) -> Settings:
    """Settings whose every URI is on the memory:// filesystem, with data in place."""
{%- endif %}
    train_uri = io.join(memory_root, "data", "customers.csv")
    io.write_table(train_uri, table)
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
