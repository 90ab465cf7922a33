"""MLflow on the local backend: runs logged by train and monitor, the model registry by alias."""

import hashlib
import json
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
import skops.io as sio
from mlflow import MlflowClient
from mlflow.entities import Run

from {{cookiecutter.package_name}}.model import GradientBoostingModel, UntrustedModelError
from {{cookiecutter.package_name}}.pipelines.monitor import monitor
from {{cookiecutter.package_name}}.pipelines.train import MetricGateError, train
from {{cookiecutter.package_name}}.registry import (
    IntegrityError,
    ModelCard,
    ModelNotFoundError,
    open_registry,
)
from {{cookiecutter.package_name}}.settings import (
    LOWER_IS_BETTER,
    ModelSettings,
    Settings,
    TrackingSettings,
    TrainingSettings,
)
from {{cookiecutter.package_name}}.tracking import tracking_uri
from .conftest import ANY_MODEL


@pytest.fixture
def settings(memory_settings: Settings) -> Settings:
    """Memory settings logging to the test's own MLflow database, with a small model."""
    return memory_settings.model_copy(
        update={"model": ModelSettings(max_iter=30), "training": ANY_MODEL}
    )


@pytest.fixture
def client(fresh_mlflow: str) -> MlflowClient:
    return MlflowClient(tracking_uri=fresh_mlflow, registry_uri=fresh_mlflow)


def runs(client: MlflowClient, settings: Settings, job: str) -> list[Run]:
    experiment = client.get_experiment_by_name(settings.tracking.experiment)
    assert experiment is not None, "no experiment logged"
    found = client.search_runs([experiment.experiment_id], f"tags.job = '{job}'")
    return list(found)


def artifacts(client: MlflowClient, run_id: str, path: str = "") -> set[str]:
    found = set()
    for entry in client.list_artifacts(run_id, path or None):
        found |= artifacts(client, run_id, entry.path) if entry.is_dir else {entry.path}
    return found


def local_artifact(client: MlflowClient, run_id: str, path: str) -> Path:
    return Path(urlparse(client.get_run(run_id).info.artifact_uri).path) / path


def test_train_logs_a_run_registers_a_version_and_moves_the_alias(
    settings: Settings, client: MlflowClient
) -> None:
    card = train(settings).card

    (run,) = runs(client, settings, "train")
    assert run.info.status == "FINISHED"
    assert run.data.metrics == pytest.approx(card.metrics)
    params = run.data.params
    assert params["data.fingerprint"] == card.data_fingerprint
    assert params["data.train_uri"] == settings.data.train_uri
    assert params["code_version"] == card.code_version
    assert params["model.max_iter"] == "30"
    assert run.data.tags["decision"] == f"registered as v{card.version}, alias 'test'"
    assert artifacts(client, run.info.run_id) == {
        f"train-v{card.version}.html",
        "model/model.skops",
        "model/metadata.json",
    }
    version = client.get_model_version(settings.model.name, str(card.version))
    assert version.run_id == run.info.run_id
    aliases = client.get_registered_model(settings.model.name).aliases
    assert {alias: int(version) for alias, version in aliases.items()} == {"test": card.version}
    model, loaded = open_registry(settings).load("test")
    assert loaded == card
    assert model.feature_names == card.features


def test_a_rejected_training_is_logged_and_moves_no_alias(
    settings: Settings, client: MlflowClient
) -> None:
    first = train(settings).card
    impossible = -1.0 if TrainingSettings().metric in LOWER_IS_BETTER else 1.5
    strict = settings.model_copy(update={"training": TrainingSettings(gate=impossible)})

    with pytest.raises(MetricGateError, match="model not registered"):
        train(strict)

    rejected = [run for run in runs(client, settings, "train") if run.info.status == "FAILED"]
    (run,) = rejected
    assert run.data.tags["decision"].startswith("rejected: ")
    assert artifacts(client, run.info.run_id) == {"train-rejected.html"}
    registry = open_registry(settings)
    assert registry.versions() == [first.version]
    assert registry.aliases() == {"test": first.version}
    assert registry.resolve("test") == first


def test_a_tampered_model_artifact_is_refused(settings: Settings, client: MlflowClient) -> None:
    card = train(settings).card
    run_id = client.get_model_version(settings.model.name, str(card.version)).run_id
    assert run_id is not None
    path = local_artifact(client, run_id, "model/model.skops")
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="does not match the recorded"):
        open_registry(settings).load("test")


def test_untrusted_types_are_refused_even_with_a_matching_card(
    settings: Settings, client: MlflowClient
) -> None:
    card = train(settings).card
    run_id = client.get_model_version(settings.model.name, str(card.version)).run_id
    assert run_id is not None
    model, _ = open_registry(settings).load("test")
    assert isinstance(model, GradientBoostingModel)
    payload = sio.dumps({"model": model.pipeline, "hook": pd.Timestamp("2020-01-01")})
    local_artifact(client, run_id, "model/model.skops").write_bytes(payload)
    metadata = local_artifact(client, run_id, "model/metadata.json")
    edited = json.loads(metadata.read_text()) | {"sha256": hashlib.sha256(payload).hexdigest()}
    metadata.write_text(json.dumps(edited))
    with pytest.raises(UntrustedModelError, match="untrusted types"):
        open_registry(settings).load("test")


def test_a_version_whose_registration_did_not_finish_is_not_a_version(
    settings: Settings, client: MlflowClient
) -> None:
    first = train(settings).card
    # A crash after MLflow created the version, before the card was logged and tagged.
    client.create_model_version(settings.model.name, "file:///nowhere", run_id=None)
    registry = open_registry(settings)
    assert registry.versions() == [first.version]
    with pytest.raises(ModelNotFoundError, match=f"no version {first.version + 1}"):
        registry.card(first.version + 1)
    assert registry.resolve("latest") == first
    assert train(settings).card.version == first.version + 2


def test_monitor_logs_its_figures_and_report(settings: Settings, client: MlflowClient) -> None:
    train(settings)
    report = monitor(settings)

    (run,) = runs(client, settings, "monitor")
    assert run.info.status == "FINISHED"
    figures = run.data.metrics
    assert figures["labelled"] == report.labelled
    assert figures["recent_rows"] == report.recent_rows
    assert figures["alerts"] == len(report.alerts)
    assert run.data.tags["alerts"] == ("; ".join(report.alerts) or "none")
    name = report.report_uri.rsplit("/", 1)[-1]
    assert artifacts(client, run.info.run_id) == {name}


def test_the_tracking_uri_comes_from_the_environment_else_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    local = tracking_uri(TrackingSettings())
    assert local == f"sqlite:///{tmp_path / 'artifacts/local/mlflow/mlflow.db'}"
    assert (tmp_path / "artifacts/local/mlflow").is_dir()
    assert tracking_uri(TrackingSettings(uri="http://mlflow:5000")) == "http://mlflow:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert tracking_uri(TrackingSettings(uri="http://mlflow:5000")) == "http://127.0.0.1:5001"


def test_the_card_is_an_artifact_of_the_training_run(
    settings: Settings, client: MlflowClient
) -> None:
    card = train(settings).card
    run_id = client.get_model_version(settings.model.name, str(card.version)).run_id
    assert run_id is not None
    logged = local_artifact(client, run_id, "model/metadata.json").read_text()
    assert ModelCard.model_validate_json(logged) == card


def test_versions_and_aliases_follow_the_file_registry_rules(settings: Settings) -> None:
    registry = open_registry(settings)
    assert (registry.versions(), registry.aliases()) == ([], {})
    with pytest.raises(ModelNotFoundError, match=r"alias 'prod'.*aliases: none"):
        registry.resolve("prod")
    with pytest.raises(ModelNotFoundError, match="no version 7"):
        registry.set_alias("prod", 7)

    card = train(settings).card
    registry.set_alias("prod", card.version)
    assert registry.aliases() == {"test": card.version, "prod": card.version}
    assert registry.resolve(f"v{card.version}") == registry.resolve("latest") == card
