import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.datagen import generate_customers
from {{cookiecutter.package_name}}.pipelines.predict import predict
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.settings import (
    ENV_PREFIX,
    AuthSettings,
    DataSettings,
    Settings,
    StorageSettings,
    StoreSettings,
    load_settings,
)
from tests.conftest import PROJECT_ROOT, fresh_store_url

SAMPLE = PROJECT_ROOT / "data" / "sample" / "customers.csv"
# API keys of the tests that turn authentication on (real keys: `openssl rand -hex 32`).
PREDICT_KEY = "predict-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
KEY_VARIABLES = {
    f"{ENV_PREFIX}AUTH__PREDICT_KEYS": PREDICT_KEY,
    f"{ENV_PREFIX}AUTH__ADMIN_KEYS": ADMIN_KEY,
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def record(customers: pd.DataFrame, row: int = 0) -> dict[str, object]:
    """One customer as a JSON request body (no label)."""
    values = customers.drop(columns=["churned"]).iloc[row].to_dict()
    return {str(key): (None if pd.isna(value) else value) for key, value in values.items()}


@pytest.fixture(scope="session")
def registry_uri() -> str:
    """A registry with one trained model (alias "test"), shared by the serving tests."""
    root = f"memory://serving-{uuid.uuid4().hex}"
    train_uri = io.join(root, "customers.csv")
    io.write_table(train_uri, generate_customers(400, seed=7))
    settings = Settings(
        env="test",
        data=DataSettings(train_uri=train_uri, predict_input_uri=train_uri, predictions_uri="-"),
        storage=StorageSettings(registry_uri=io.join(root, "registry"), reports_uri=root),
        store=StoreSettings(url="sqlite://"),
    )
    train(settings)
    return settings.storage.registry_uri


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
    return io.read_table(str(SAMPLE))
