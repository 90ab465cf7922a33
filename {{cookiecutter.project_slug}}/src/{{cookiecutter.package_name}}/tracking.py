"""MLflow: the server (or local SQLite file) that runs are logged to and models registered in.

`MLFLOW_TRACKING_URI`, else `tracking.uri`, names it; `local` is a SQLite file under
artifacts/local/mlflow/ with the artifacts beside it, and no server. `train` and
`monitor` log one run each to the `tracking.experiment` experiment; the model registry
(`registry.MlflowRegistry`) attaches a new version to the run that is active.
"""

import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from .settings import TrackingSettings

LOCAL = "local"
LOCAL_DIR = Path("artifacts/local/mlflow")
# MLflow refuses longer parameter values.
MAX_PARAM_LENGTH = 6000


def tracking_uri(tracking: TrackingSettings) -> str:
    """The tracking (and registry) URI: MLFLOW_TRACKING_URI, else `tracking.uri`.

    `local` becomes the SQLite file artifacts/local/mlflow/mlflow.db; the folder of a
    SQLite file is created.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or tracking.uri
    if uri == LOCAL:
        uri = f"sqlite:///{(LOCAL_DIR / 'mlflow.db').resolve()}"
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return uri


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite file; a server decides."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()


def open_client(tracking: TrackingSettings) -> MlflowClient:
    uri = tracking_uri(tracking)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment's id; created on first use (a concurrent creation is fine)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        location = artifact_location(client.tracking_uri)
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException as error:
        found = client.get_experiment_by_name(name)
        if error.error_code != "RESOURCE_ALREADY_EXISTS" or found is None:
            raise
        return str(found.experiment_id)


@dataclass(frozen=True)
class Run:
    """An MLflow run being logged: parameters, metrics, tags and artifacts."""

    client: MlflowClient
    run_id: str
    artifact_uri: str

    def log_params(self, params: Mapping[str, object]) -> None:
        values = [Param(key, str(value)[:MAX_PARAM_LENGTH]) for key, value in params.items()]
        self.client.log_batch(self.run_id, params=values)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        now = int(time.time() * 1000)
        values = [Metric(key, float(value), now, 0) for key, value in metrics.items()]
        self.client.log_batch(self.run_id, metrics=values)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_bytes(self, payload: bytes, artifact_file: str) -> None:
        folder, _, name = artifact_file.rpartition("/")
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / name
            path.write_bytes(payload)
            self.client.log_artifact(self.run_id, str(path), folder or None)


# The run `start_run` opened in this context: a registered model version belongs to it.
ACTIVE_RUN: ContextVar[Run | None] = ContextVar("active_run", default=None)


@contextmanager
def start_run(tracking: TrackingSettings, name: str, tags: Mapping[str, str]) -> Iterator[Run]:
    """Log a run named `name` to the experiment; FAILED if the block raises, else FINISHED."""
    client = open_client(tracking)
    created = client.create_run(
        experiment_id(client, tracking.experiment), run_name=name, tags=dict(tags)
    )
    run = Run(client, created.info.run_id, created.info.artifact_uri)
    token = ACTIVE_RUN.set(run)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    finally:
        ACTIVE_RUN.reset(token)
        client.set_terminated(run.run_id, status)
