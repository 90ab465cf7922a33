import http.client
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from {{cookiecutter.package_name}} import data, io
from {{cookiecutter.package_name}}.contracts import (
    CLASSES,
    ID_COLUMN,
    SAMPLE_URI,
    TARGET_COLUMN,
    TASK,
)
from {{cookiecutter.package_name}}.pipelines.predict import predict
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.serving.schemas import RECORD_COLUMNS, Feedback, InputRecord
from {{cookiecutter.package_name}}.settings import (
    ENV_PREFIX,
    AuthSettings,
    Settings,
    load_settings,
)
from {{cookiecutter.package_name}}.store import json_records
from tests.conftest import PROJECT_ROOT, fresh_store_url

SAMPLE = PROJECT_ROOT / SAMPLE_URI
# API keys of the tests that turn authentication on (real keys: `openssl rand -hex 32`).
PREDICT_KEY = "predict-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
KEY_VARIABLES = {
    f"{ENV_PREFIX}AUTH__PREDICT_KEYS": PREDICT_KEY,
    f"{ENV_PREFIX}AUTH__ADMIN_KEYS": ADMIN_KEY,
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def record(table: pd.DataFrame, row: int = 0) -> dict[str, object]:
    """One row of the table as a JSON request body: the contract's columns, no label."""
    values = json_records(table.iloc[[row]])[0]  # Python values, NaN as None
    return {name: values[name] for name in RECORD_COLUMNS if name in values}


def entity(table: pd.DataFrame, row: int = 0) -> str:
    """The id of a row (tests that call it are marked `needs_id`)."""
    assert ID_COLUMN is not None
    return str(table.at[row, ID_COLUMN])


# Values the contract refuses, derived from the request model's JSON Schema (which the
# contract defines): whatever the table, each list holds one case per column it fits.
def field_schemas() -> dict[str, dict[str, Any]]:
    """Each request field's JSON Schema, the non-null branch of a nullable field."""
    schemas = {}
    for name, schema in InputRecord.model_json_schema()["properties"].items():
        branches = [part for part in schema.get("anyOf", [schema]) if part.get("type") != "null"]
        schemas[name] = branches[0]
    return schemas


INT64_MAX = 2**63 - 1


def out_of_range() -> list[tuple[str, object]]:
    """(column, value) below a column's minimum or above its maximum (not int64's)."""
    cases = below_minimum()
    for name, schema in field_schemas().items():
        if "maximum" in schema and schema["maximum"] < INT64_MAX:
            cases.append((name, schema["maximum"] + 1))
    return cases


def below_minimum() -> list[tuple[str, object]]:
    """(column, value) below a column's minimum, where the minimum is not int64's."""
    return [
        (name, schema["minimum"] - 1)
        for name, schema in field_schemas().items()
        if "minimum" in schema and schema["minimum"] > -INT64_MAX
    ]


def outside_categories() -> list[tuple[str, object]]:
    """(column, text) outside a text column's categories."""
    return [
        (name, "not-" + "-".join(schema["enum"]))
        for name, schema in field_schemas().items()
        if "enum" in schema and all(isinstance(value, str) for value in schema["enum"])
    ]


def columns_of_type(kind: str) -> list[str]:
    """Request fields whose JSON Schema type is `kind` (integer, number, string).

    Numbers limited to a few values (an `isin` of numbers) are left out.
    """
    return [
        name
        for name, schema in field_schemas().items()
        if schema.get("type") == kind and (kind == "string" or "enum" not in schema)
    ]


def required_columns() -> list[str]:
    """Request fields a record must carry (not nullable in the contract)."""
    return [name for name in RECORD_COLUMNS if InputRecord.model_fields[name].is_required()]


def nullable_columns() -> list[str]:
    """Request fields the contract lets be null."""
    return [name for name in RECORD_COLUMNS if not InputRecord.model_fields[name].is_required()]


def wrong_types() -> list[tuple[str, object]]:
    """(column, value) of a JSON type the column's schema refuses (strict: no coercion)."""
    cases: list[tuple[str, object]] = []
    for name in columns_of_type("integer")[:1]:
        cases += [(name, True), (name, "12")]  # a boolean is no integer, nor are digits
    for name in columns_of_type("number")[:1]:
        cases.append((name, "12.5"))
    for name in columns_of_type("string")[:1]:
        cases.append((name, 12345))
    return cases


@pytest.fixture
def trained_settings(memory_settings: Settings, registry_uri: str) -> Settings:
    """A trained model, authentication off (the access-control tests turn it on)."""
    storage = memory_settings.storage.model_copy(update={"registry_uri": registry_uri})
    return memory_settings.model_copy(
        update={"storage": storage, "auth": AuthSettings(enabled=False)}
    )


@pytest.fixture
def secured_settings(trained_settings: Settings) -> Settings:
    """A trained model behind one predict key and one admin key."""
    auth = AuthSettings(predict_keys=SecretStr(PREDICT_KEY), admin_keys=SecretStr(ADMIN_KEY))
    return trained_settings.model_copy(update={"auth": auth})


@pytest.fixture
def client(trained_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(trained_settings)) as test_client:
        yield test_client


@pytest.fixture
def scored_settings(trained_settings: Settings) -> Settings:
    """A trained model and a batch run: online features and batch predictions in the store."""
    predict(trained_settings)
    return trained_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """The `serve` command in a subprocess, on a real socket."""

    def __init__(self, folder: Path, store_url: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.overrides = {
            f"{ENV_PREFIX}STORAGE__REGISTRY_URI": str(folder / "registry"),
            f"{ENV_PREFIX}STORAGE__REPORTS_URI": str(folder / "reports"),
            f"{ENV_PREFIX}DATA__PREDICTIONS_URI": str(folder / "predictions.csv"),
            f"{ENV_PREFIX}STORE__URL": store_url,
            f"{ENV_PREFIX}LOGGING__LEVEL": "WARNING",
            f"{ENV_PREFIX}MODEL__MAX_ITER": "40",
        } | (env or {})
        self.env = os.environ | self.overrides
        self.process: subprocess.Popen[bytes] | None = None

    def settings(self) -> Settings:
        """The settings the server process sees."""
        with pytest.MonkeyPatch.context() as patch:
            for key, value in self.overrides.items():
                patch.setenv(key, value)
            return load_settings("local", PROJECT_ROOT / "configs")

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}",
            "serve",
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(command, env=self.env, cwd=PROJECT_ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready within 60 s")

    def stop(self) -> int:
        """Stop like a container runtime would (SIGTERM) and return the exit code."""
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout=30)


def raw_request(server: Server, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send `head` (and `body`, complete or not) on a socket: the answer's status and body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


@contextmanager
def running_server(folder: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A trained model, a batch run and the `serve` command on a free port."""
    with fresh_store_url(folder) as store_url:
        running = Server(folder, store_url, env)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(PROJECT_ROOT)
            settings = running.settings()
            train(settings)
            predict(settings)
        running.start()
        try:
            yield running
        finally:
            if running.process is not None and running.process.poll() is None:
                running.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("server")) as running:
        yield running


# Limits of the secured server: small enough to cross in a test.
SECURED_BODY_BYTES = 50 * 1024
SECURED_UPLOAD_BYTES = 512 * 1024


@pytest.fixture(scope="session")
def secured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service as deployed: keys required, small body limits, on a real socket."""
    limits = {
        f"{ENV_PREFIX}SERVING__MAX_BODY_MB": str(SECURED_BODY_BYTES / 1024 / 1024),
        f"{ENV_PREFIX}SERVING__MAX_UPLOAD_MB": str(SECURED_UPLOAD_BYTES / 1024 / 1024),
    }
    with running_server(tmp_path_factory.mktemp("secured"), KEY_VARIABLES | limits) as running:
        yield running


@pytest.fixture
def sample() -> pd.DataFrame:
    return io.read_table(str(SAMPLE), text=data.TEXT_COLUMNS)


def assert_answer(answer: dict[str, Any]) -> None:
    """A prediction as the task says: a class and its probability, or a value alone."""
    if not CLASSES:
        assert isinstance(answer["prediction"], float)
        assert math.isfinite(answer["prediction"])
        assert "probability" not in answer
        return
    assert answer["prediction"] in CLASSES
    assert 0 <= answer["probability"] <= 1
    if TASK == "multiclass":  # the predicted class is the most probable one
        assert answer["probability"] >= 1 / len(CLASSES) - 1e-9


def bad_outcome() -> object:
    """An outcome the target column refuses: outside its classes or its range."""
    schema = Feedback.model_json_schema()["properties"]["outcome"]
    schema = next(part for part in schema.get("anyOf", [schema]) if part.get("type") != "null")
    if "enum" in schema:
        values = schema["enum"]
        if all(isinstance(value, str) for value in values):
            return "not-" + "-".join(values)
        return max(values) + 1
    if "maximum" in schema:
        return schema["maximum"] + 1
    if "minimum" in schema:
        return schema["minimum"] - 1
    return "not a number"


def an_outcome(table: pd.DataFrame, row: int = 0) -> object:
    """A valid outcome: the table's target value in `row`, as JSON holds it."""
    value = table[TARGET_COLUMN].iloc[row]
    return value.item() if hasattr(value, "item") else value


def another_outcome(table: pd.DataFrame, row: int = 0) -> object:
    """A valid outcome different from `an_outcome(table, row)`."""
    first = an_outcome(table, row)
    if CLASSES:
        return next(
            value.item() if hasattr(value, "item") else value for value in CLASSES if value != first
        )
    assert isinstance(first, float)
    return first + 1 if first + 1 <= float(table[TARGET_COLUMN].max()) else first - 1


def lookup_status() -> int:
    """What GET /predict/{id} answers for a valid id: 200 (at worst the model card's
    baseline), or 404 when the table has no id column."""
    return 200 if ID_COLUMN is not None else 404
