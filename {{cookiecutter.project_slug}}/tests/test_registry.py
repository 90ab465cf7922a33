import hashlib
import json
import pickle
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from pydantic import JsonValue
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from {{cookiecutter.package_name}} import data, io
from {{cookiecutter.package_name}}.contracts import CLASSES, FEATURE_COLUMNS, TASK
from {{cookiecutter.package_name}}.model import GradientBoostingModel, UntrustedModelError
from {{cookiecutter.package_name}}.registry import (
    Baseline,
    CorruptVersionError,
    IncompatibleModelError,
    IntegrityError,
    ModelCard,
    ModelNotFoundError,
    Registry,
    RegistryError,
    baseline_of,
    code_version,
)
from {{cookiecutter.package_name}}.settings import TASK_METRICS, ModelSettings

METRIC = TASK_METRICS[TASK][0]
BASELINE = (
    Baseline(prediction=CLASSES[0], probability=0.6)
    if CLASSES
    else Baseline(prediction=12.5, probability=None)
)
OTHER_TASK = next(task for task in ("binary", "multiclass", "regression") if task != TASK)


@pytest.fixture
def fitted(table: pd.DataFrame) -> GradientBoostingModel:
    features, target = data.split_target(data.build_features(data.clean(data.validate_raw(table))))
    return GradientBoostingModel(ModelSettings(max_iter=20)).fit(features, target)


@pytest.fixture
def registry(memory_root: str) -> Registry:
    return Registry(io.join(memory_root, "registry"), "a-model")


def register(
    registry: Registry,
    model: GradientBoostingModel,
    metrics: dict[str, float] | None = None,
    fingerprint: str = "abc",
    params: dict[str, JsonValue] | None = None,
) -> ModelCard:
    """Register with the project's gate metric and a baseline."""
    return registry.register(
        model, metrics or {}, fingerprint, params, metric=METRIC, baseline=BASELINE
    )


def test_register_versions_and_aliases(registry: Registry, fitted: GradientBoostingModel) -> None:
    first = register(registry, fitted, {METRIC: 0.8}, "abc", {"max_iter": 20})
    second = register(registry, fitted, {METRIC: 0.9}, "def", {"max_iter": 20})
    assert (first.version, second.version) == (1, 2)
    assert registry.versions() == [1, 2]

    registry.set_alias("dev", 1)
    registry.set_alias("prod", 2)
    assert registry.aliases() == {"dev": 1, "prod": 2}
    assert registry.resolve("dev").metrics == {METRIC: 0.8}
    assert registry.resolve("latest").version == 2
    assert registry.resolve("v1").data_fingerprint == "abc"
    assert len(registry.card(2).sha256) == 64
    assert registry.card(2).code_version.startswith("0.1.0")


def test_the_card_records_task_classes_metric_and_baseline(
    registry: Registry, fitted: GradientBoostingModel
) -> None:
    card = register(registry, fitted)
    stored = registry.card(card.version)
    assert stored == card
    assert (stored.task, stored.classes, stored.metric) == (TASK, list(CLASSES), METRIC)
    assert stored.baseline == BASELINE
    assert stored.features == list(FEATURE_COLUMNS)


def test_loaded_model_predicts_like_the_original(
    registry: Registry, fitted: GradientBoostingModel, table: pd.DataFrame
) -> None:
    card = register(registry, fitted, params={})
    registry.set_alias("dev", card.version)
    loaded, loaded_card = registry.load("dev")
    features = data.build_features(data.clean(data.validate_raw(table)))
    assert loaded_card == card
    assert (loaded.outputs(features) == fitted.outputs(features)).all()


def edit_card(registry: Registry, version: int, **changes: object) -> None:
    uri = io.join(registry.root, f"v{version}", "metadata.json")
    io.write_text(uri, json.dumps(json.loads(io.read_text(uri)) | changes))


def test_a_model_of_another_task_is_refused_naming_both(
    registry: Registry, fitted: GradientBoostingModel
) -> None:
    register(registry, fitted)
    edit_card(registry, 1, task=OTHER_TASK)
    with pytest.raises(
        IncompatibleModelError,
        match=rf"v1 was trained for the {OTHER_TASK} task, but this project's task is {TASK}",
    ):
        registry.load("v1")


def test_a_model_of_other_classes_or_features_is_refused(
    registry: Registry, fitted: GradientBoostingModel
) -> None:
    register(registry, fitted)
    edit_card(registry, 1, classes=["not", "these"])
    with pytest.raises(IncompatibleModelError, match=r"predicts the classes \['not', 'these'\]"):
        registry.load("v1")
    register(registry, fitted)
    edit_card(registry, 2, features=[*FEATURE_COLUMNS[1:], "a_column_gone"])
    with pytest.raises(IncompatibleModelError, match=r"not in the contract: \['a_column_gone'\]"):
        registry.load("v2")


@pytest.mark.skipif(TASK == "regression", reason="classes only")
def test_the_baseline_of_classes_is_the_majority_and_its_share() -> None:
    first, second = CLASSES[0], CLASSES[1]
    assert baseline_of(pd.Series([first] * 3 + [second] * 5)) == Baseline(
        prediction=second, probability=5 / 8
    )
    tie = baseline_of(pd.Series([second, first]))  # a tie goes to the contract's first class
    assert tie == Baseline(prediction=first, probability=0.5)
    assert type(tie.prediction) is type(first)


@pytest.mark.skipif(TASK != "regression", reason="regression only")
def test_the_baseline_of_a_regression_is_the_mean() -> None:
    assert baseline_of(pd.Series([1.0, 2.0, 6.0])) == Baseline(prediction=3.0, probability=None)


def test_no_rows_have_no_baseline() -> None:
    with pytest.raises(ValueError, match="no training rows"):
        baseline_of(pd.Series([], dtype=float))


def test_tampered_artifact_is_refused(registry: Registry, fitted: GradientBoostingModel) -> None:
    card = register(registry, fitted, params={})
    model_uri = io.join(registry.root, f"v{card.version}", "model.skops")
    io.write_bytes(model_uri, io.read_bytes(model_uri) + b"\0")
    with pytest.raises(IntegrityError, match="does not match the recorded"):
        registry.load("v1")


def test_untrusted_types_are_refused(registry: Registry, fitted: GradientBoostingModel) -> None:
    card = register(registry, fitted, params={})
    payload = sio.dumps({"model": fitted.pipeline, "hook": pd.Timestamp("2020-01-01")})
    base = io.join(registry.root, f"v{card.version}")
    io.write_bytes(io.join(base, "model.skops"), payload)
    metadata = json.loads(io.read_text(io.join(base, "metadata.json")))
    metadata["sha256"] = hashlib.sha256(payload).hexdigest()
    io.write_text(io.join(base, "metadata.json"), json.dumps(metadata))
    with pytest.raises(UntrustedModelError, match="untrusted types"):
        registry.load("v1")


def test_unknown_alias_says_what_exists(registry: Registry, fitted: GradientBoostingModel) -> None:
    registry.set_alias("dev", register(registry, fitted, params={}).version)
    with pytest.raises(ModelNotFoundError, match=r"alias 'prod'.*aliases: \['dev'\]"):
        registry.resolve("prod")
    with pytest.raises(ModelNotFoundError, match="no version 7"):
        registry.set_alias("prod", 7)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_metrics_are_refused_before_anything_is_written(
    registry: Registry, fitted: GradientBoostingModel, value: float
) -> None:
    with pytest.raises(RegistryError, match=rf"metrics\.{METRIC}"):
        register(registry, fitted, {METRIC: value})
    assert registry.versions() == []
    assert not io.exists(registry.root)


def test_card_records_the_estimators_actual_parameters(
    registry: Registry, table: pd.DataFrame
) -> None:
    features, target = data.split_target(data.build_features(data.clean(data.validate_raw(table))))
    model = GradientBoostingModel(ModelSettings(max_iter=7, learning_rate=0.3)).fit(
        features, target
    )
    card = register(registry, model, {METRIC: 0.8})
    kind = "Regressor" if TASK == "regression" else "Classifier"
    assert card.estimator == f"sklearn.ensemble.HistGradientBoosting{kind}"
    assert card.params["max_iter"] == 7
    assert card.params["learning_rate"] == 0.3
    assert "early_stopping" in card.params
    assert registry.card(card.version) == card


def write_metadata(registry: Registry, version: int, text: str) -> None:
    io.write_text(io.join(registry.root, f"v{version}", "metadata.json"), text)


def test_a_corrupt_version_is_skipped_by_latest_and_named_when_asked_for(
    registry: Registry, fitted: GradientBoostingModel
) -> None:
    registry.set_alias("dev", register(registry, fitted, {METRIC: 0.8}).version)
    registry.set_alias("prod", register(registry, fitted, {METRIC: 0.9}, "def").version)
    write_metadata(registry, 2, '{"name": "a-model", "version": 2, "metrics": {"m": null}')

    assert registry.resolve("latest").version == 1
    with pytest.raises(CorruptVersionError, match=r"v2: unreadable .*metadata\.json"):
        registry.resolve("prod")
    assert register(registry, fitted, {METRIC: 0.7}, "ghi").version == 3


def test_a_version_without_metadata_is_not_a_version_and_its_number_is_not_reused(
    registry: Registry, fitted: GradientBoostingModel
) -> None:
    register(registry, fitted, {METRIC: 0.8})
    io.write_bytes(io.join(registry.root, "v2", "model.skops"), fitted.save())
    assert registry.versions() == [1]
    assert registry.resolve("latest").version == 1
    assert register(registry, fitted, {METRIC: 0.8}).version == 3


def test_corrupt_aliases_file_is_a_registry_error(
    registry: Registry, fitted: GradientBoostingModel
) -> None:
    registry.set_alias("dev", register(registry, fitted).version)
    io.write_text(io.join(registry.root, "aliases.json"), "[1, 2")
    with pytest.raises(CorruptVersionError, match=r"aliases\.json"):
        registry.resolve("dev")


def replace_artifact(registry: Registry, version: int, payload: bytes) -> None:
    """Swap a version's model file and record its sha256, as a careless hand would."""
    base = io.join(registry.root, f"v{version}")
    io.write_bytes(io.join(base, "model.skops"), payload)
    metadata = json.loads(io.read_text(io.join(base, "metadata.json")))
    metadata["sha256"] = hashlib.sha256(payload).hexdigest()
    io.write_text(io.join(base, "metadata.json"), json.dumps(metadata))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (pickle.dumps({"model": "anything"}), "not a skops model file"),
        (b"", "not a skops model file"),
        (sio.dumps(Pipeline([("classifier", LogisticRegression())])), "LogisticRegression"),
        (sio.dumps({"weights": [1, 2, 3]}), "expected a Pipeline"),
    ],
    ids=["pickle", "empty", "other-estimator", "not-a-model"],
)
def test_foreign_artifacts_are_refused_with_a_reason(
    registry: Registry, fitted: GradientBoostingModel, payload: bytes, reason: str
) -> None:
    register(registry, fitted)
    replace_artifact(registry, 1, payload)
    with pytest.raises(CorruptVersionError, match=reason):
        registry.load("v1")


def test_missing_model_file_is_named(registry: Registry, fitted: GradientBoostingModel) -> None:
    register(registry, fitted)
    fs, path = io.resolve(io.join(registry.root, "v1", "model.skops"))
    fs.rm(path)
    with pytest.raises(CorruptVersionError, match=r"v1: .*model\.skops is missing"):
        registry.load("v1")


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_code_version_marks_uncommitted_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GIT_COMMIT", raising=False)
    git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("print('v1')\n")
    git(tmp_path, "add", "train.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    commit = git(tmp_path, "rev-parse", "--short=12", "HEAD")
    monkeypatch.chdir(tmp_path)

    assert code_version().endswith(f"+{commit}")
    (tmp_path / "train.py").write_text("print('v2')\n")
    assert code_version().endswith(f"+{commit}.dirty")
