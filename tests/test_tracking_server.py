"""Deep layer: tracking=mlflow against a real MLflow server process over HTTP.

The rendered project's own ``mlflow server`` (from its .venv) runs on a free port with a
SQLite backend and an artifact folder under the test's tmp directory; the project is
pointed at it with ``MLFLOW_TRACKING_URI`` only. Checked through the MLflow REST API:
``make train`` logs a run (metrics, parameters, the report and the model as artifacts),
registers a version and moves the environment's alias; a training that fails the gate
is logged as a failed run and moves nothing; ``make predict`` and ``make serve`` load
the model by alias from the server (nothing is written to the local backend).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BakedProject, bake_project
from workflow import (
    csv_rows,
    dataset_constants,
    deep_env,
    free_port,
    json_value,
    local_config,
    local_path,
    request,
    serving,
)

pytestmark = pytest.mark.deep

SERVER_START_TIMEOUT = 120.0
# A gate no model reaches (every default gate metric is at most 1, higher is better).
IMPOSSIBLE_GATE = "1.5"


@contextlib.contextmanager
def mlflow_server(project: BakedProject, env: dict[str, str], folder: Path) -> Iterator[str]:
    """``mlflow server`` of the project's venv on a free port; yields its URL once healthy."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "server.log"
    command = [
        str(project.path / ".venv" / "bin" / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'backend.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("wb") as output:
        server = subprocess.Popen(
            command,
            cwd=folder,
            # No background job workers (five processes): the tests log, they run no jobs.
            env=env | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the server and its workers
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited {server.returncode}:\n{log.read_text()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/health") as answer:
                if answer.status == 200:  # answers "OK", not JSON
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer /health:\n{log.read_text()}")
            time.sleep(0.5)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


class Rest:
    """The MLflow REST API of one server."""

    def __init__(self, base: str) -> None:
        self.base = f"{base}/api/2.0/mlflow"

    def get(self, endpoint: str, **query: str) -> dict:
        status, body = request(f"{self.base}/{endpoint}?{urllib.parse.urlencode(query)}")
        assert status == 200, f"GET {endpoint} answered {status}: {body}"
        assert isinstance(body, dict)
        return body

    def post(self, endpoint: str, payload: dict) -> dict:
        status, body = request(f"{self.base}/{endpoint}", payload)
        assert status == 200, f"POST {endpoint} answered {status}: {body}"
        assert isinstance(body, dict)
        return body

    def runs(self, experiment: str) -> list[dict]:
        """The experiment's runs, oldest first."""
        found = self.get("experiments/get-by-name", experiment_name=experiment)
        experiment_id = found["experiment"]["experiment_id"]
        runs = self.post(
            "runs/search", {"experiment_ids": [experiment_id], "order_by": ["start_time ASC"]}
        )
        return runs.get("runs", [])

    def artifacts(self, run_id: str, path: str = "") -> set[str]:
        listed = self.get("artifacts/list", run_id=run_id, path=path).get("files", [])
        found: set[str] = set()
        for entry in listed:
            if entry["is_dir"]:
                found |= self.artifacts(run_id, entry["path"])
            else:
                found.add(entry["path"])
        return found

    def aliases(self, name: str) -> dict[str, int]:
        model = self.get("registered-models/get", name=name)["registered_model"]
        return {item["alias"]: int(item["version"]) for item in model.get("aliases", [])}

    def versions(self, name: str) -> list[int]:
        found = self.get("model-versions/search", filter=f"name='{name}'")
        return sorted(int(item["version"]) for item in found.get("model_versions", []))


def as_dict(items: list[dict], value: str) -> dict[str, str]:
    return {item["key"]: item[value] for item in items}


def test_train_predict_and_serve_through_an_mlflow_server(cookies, tmp_path):
    # The default answers (SQLite store, the service) with MLflow and without notebooks.
    project = bake_project(cookies, tracking="mlflow", include_notebooks="no", docs="none")
    prefix = project.answers["package_name"].upper()
    env = deep_env(project) | {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    project.run(["make", "install"], env=env)
    # The MLflow variant's own checks: lint, strict types, dependencies, and the tests of
    # the MLflow registry and of the jobs that log to it (on the local backend).
    project.run(["make", "lint", "typecheck", "deps"], env=env)
    tests = ["tests/test_tracking.py", "tests/test_registry.py", "tests/pipelines"]
    project.run(["uv", "run", "--frozen", "pytest", "-q", *tests, "tests/test_cli.py"], env=env)
    config = local_config(project)

    with mlflow_server(project, env, tmp_path / "mlflow") as base:
        env = env | {"MLFLOW_TRACKING_URI": base}
        rest = Rest(base)

        # A passing training: one finished run, with its metrics, parameters and artifacts.
        project.run(["make", "train"], env=env)
        found = rest.post("experiments/search", {"max_results": 10})["experiments"]
        (experiment,) = [item["name"] for item in found if item["name"] != "Default"]
        models = rest.get("registered-models/search", max_results="10")
        (name,) = [item["name"] for item in models["registered_models"]]
        (run,) = rest.runs(experiment)
        run_id = run["info"]["run_id"]
        assert run["info"]["status"] == "FINISHED"
        metrics = as_dict(run["data"]["metrics"], "value")
        params = as_dict(run["data"]["params"], "value")
        assert 0.0 <= float(metrics[params["training.metric"]]) <= 1.0, metrics
        assert params["data.train_uri"] == config["data"]["train_uri"]
        assert len(params["data.fingerprint"]) == 64
        assert params["code_version"]
        assert rest.artifacts(run_id) == {
            "train-v1.html",
            "model/model.skops",
            "model/metadata.json",
        }
        assert rest.versions(name) == [1]
        assert rest.aliases(name) == {"local": 1}

        # A failed gate: a failed run with its report, no version, the alias stays.
        failed = project.run(
            ["make", "train"], env=env | {f"{prefix}_TRAINING__GATE": IMPOSSIBLE_GATE}, check=False
        )
        assert failed.returncode != 0, failed.stdout
        assert "model not registered" in failed.stderr
        runs = rest.runs(experiment)
        assert [item["info"]["status"] for item in runs] == ["FINISHED", "FAILED"]
        assert rest.artifacts(runs[1]["info"]["run_id"]) == {"train-rejected.html"}
        assert rest.versions(name) == [1]
        assert rest.aliases(name) == {"local": 1}

        # Another passing training moves the alias to its version.
        project.run(["make", "train"], env=env)
        assert rest.versions(name) == [1, 2]
        assert rest.aliases(name) == {"local": 2}

        # predict and serve load the alias's version from the server.
        project.run(["make", "predict"], env=env)
        predictions = csv_rows(local_path(project, config["data"]["predictions_uri"]))
        assert {row["model_version"] for row in predictions} == {"v2"}

        rows = csv_rows(local_path(project, config["data"]["predict_input_uri"]))
        target = dataset_constants(project)["TARGET_COLUMN"]
        record = {key: json_value(value) for key, value in rows[0].items() if key != target}
        with serving(project, env) as service:
            status, body = request(f"{service}/predict", record)
            assert status == 200, f"POST /predict answered {status}: {body}"
            assert isinstance(body, dict)
            (answer,) = body["predictions"]
            assert answer["model_version"] == "v2", answer

    # Everything went to the server: no local backend, no file registry.
    local = project.path / "artifacts" / "local"
    assert not (local / "mlflow").exists()
    assert not (local / "registry").exists()
