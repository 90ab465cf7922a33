"""`monitor` on a real store, whatever the task: exit codes for healthy, poor and drifting
models, and the drift of the predictions."""

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.cli import ExitCode, main
from {{cookiecutter.package_name}}.contracts import (
    CATEGORICAL_FEATURES,
    CLASSES,
    FEATURE_COLUMNS,
    ID_COLUMN,
    NUMERIC_FEATURES,
    TARGET_COLUMN,
    TASK,
)
from {{cookiecutter.package_name}}.data import add_features, apply_cleaning
from {{cookiecutter.package_name}}.datagen import generate
from {{cookiecutter.package_name}}.pipelines.monitor import monitor, population_stability_index
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.registry import open_registry
from {{cookiecutter.package_name}}.settings import ENV_PREFIX, ModelSettings, Settings
from {{cookiecutter.package_name}}.store import (
    Label,
    PredictionRow,
    Store,
    json_records,
    new_prediction_id,
    utc_now,
)

METRIC = "relative_rmse" if TASK == "regression" else "accuracy"


def features_of(table: pd.DataFrame) -> pd.DataFrame:
    return add_features(apply_cleaning(table.drop(columns=[TARGET_COLUMN])))


def log_served(
    store_url: str,
    table: pd.DataFrame,
    predictions: Sequence[Label],
    probabilities: Sequence[float | None],
    outcomes: Sequence[Label] = (),
    version: str = "v1",
    with_features: bool = True,
) -> None:
    """Log `table` as served predictions, with the given outcomes as feedback."""
    records = json_records(features_of(table))
    identity = ID_COLUMN
    rows = [
        PredictionRow(
            id=new_prediction_id(),
            created_at=utc_now() - timedelta(hours=1),
            entity_id=None if identity is None else str(record[identity]),
            model_version=version,
            prediction=prediction,
            probability=probability,
            source="request",
            features={key: record[key] for key in FEATURE_COLUMNS} if with_features else None,
        )
        for record, prediction, probability in zip(records, predictions, probabilities, strict=True)
    ]
    store = Store(store_url)
    try:
        store.log_predictions(rows)
        for row, outcome in zip(rows, outcomes, strict=False):
            store.add_feedback(row.id, outcome)
    finally:
        store.close()


def answers(table: pd.DataFrame) -> tuple[list[Label], list[float | None]]:
    """Predictions equal to the table's target, with a probability where the task has one."""
    truth: list[Label] = table[TARGET_COLUMN].tolist()
    probability = None if TASK == "regression" else 0.9
    return truth, [probability] * len(truth)


def wrong(outcomes: list[Label]) -> list[Label]:
    """Predictions that get `outcomes` wrong: another class, or always their mean."""
    if TASK == "regression":  # always answering the mean: relative RMSE 1
        return [float(np.mean(np.asarray(outcomes, dtype=float)))] * len(outcomes)
    return [CLASSES[(CLASSES.index(label) + 1) % len(CLASSES)] for label in outcomes]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store_url: str) -> str:
    """The local environment on a fresh store, trained on a generated table."""
    train_uri = tmp_path / "train.csv"
    io.write_table(str(train_uri), generate(2000, seed=1))
    monkeypatch.setenv(f"{ENV_PREFIX}STORE__URL", store_url)
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__TRAIN_URI", str(train_uri))
    monkeypatch.setenv(f"{ENV_PREFIX}STORAGE__REPORTS_URI", str(tmp_path / "reports"))
    monkeypatch.setenv(f"{ENV_PREFIX}STORAGE__REGISTRY_URI", str(tmp_path / "registry"))
    return store_url


def test_nothing_to_judge_is_ok(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--env", "local"]) == ExitCode.OK
    assert "n/a (0 with feedback)" in capsys.readouterr().out


def test_good_answers_on_data_like_the_training_data_are_ok(env: str) -> None:
    table = generate(300, seed=11)
    predictions, probabilities = answers(table)
    log_served(env, table, predictions, probabilities, outcomes=predictions)

    assert main(["monitor", "--env", "local"]) == ExitCode.OK


def test_poor_answers_ask_for_retraining(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    table = generate(60, seed=11)  # enough feedback, too few rows to judge drift
    truth, probabilities = answers(table)
    log_served(env, table, wrong(truth), probabilities, outcomes=truth)

    assert main(["monitor", "--env", "local"]) == ExitCode.RETRAIN_NEEDED
    message = capsys.readouterr().err
    if TASK == "regression":
        assert "relative_rmse 1.000 on 60 predictions with feedback is above" in message
    else:
        assert "accuracy 0.000 on 60 predictions with feedback is below" in message


def shifted(features: pd.DataFrame) -> pd.DataFrame:
    """Every feature moved where the training data never was."""
    moved = features.copy()
    for name in NUMERIC_FEATURES:
        values = pd.to_numeric(moved[name], errors="coerce")
        moved[name] = float(values.abs().max()) * 10 + 1000
    for name in CATEGORICAL_FEATURES:
        moved[name] = "never-seen"
    return moved


def test_drift_asks_for_retraining(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    table = generate(300, seed=3)
    records = json_records(shifted(features_of(table)))
    predictions, probabilities = answers(table)
    store = Store(env)
    try:
        store.log_predictions(
            [
                PredictionRow(
                    id=new_prediction_id(),
                    created_at=utc_now(),
                    entity_id=None,
                    model_version="v1",
                    prediction=prediction,
                    probability=probability,
                    source="request",
                    features={key: record[key] for key in FEATURE_COLUMNS},
                )
                for record, prediction, probability in zip(
                    records, predictions, probabilities, strict=True
                )
            ]
        )
    finally:
        store.close()

    assert main(["monitor", "--env", "local"]) == ExitCode.RETRAIN_NEEDED
    message = capsys.readouterr().err
    assert "drift in" in message
    assert FEATURE_COLUMNS[0] in message


def test_predictions_unlike_the_models_on_the_training_data_are_drift(
    memory_settings: Settings,
) -> None:
    settings = memory_settings.model_copy(update={"model": ModelSettings(max_iter=60)})
    version = f"v{train(settings).card.version}"
    model, _ = open_registry(settings).load(settings.env)
    table = generate(300, seed=11)
    scores = model.score(features_of(table), settings.model.threshold)
    probabilities = [None] * len(table) if scores.probability is None else scores.probability
    log_served(
        settings.store.url, table, scores.prediction.tolist(), list(probabilities), (), version
    )

    healthy = monitor(settings)
    assert healthy.prediction_drift is not None
    assert healthy.recent_predictions == 300
    assert not healthy.prediction_drift.drifted, healthy.prediction_drift
    assert not healthy.retrain_needed, healthy.alerts

    # Answers the model never gives on its training data: one class, or a far value.
    stuck: Label = CLASSES[0] if CLASSES else float(np.max(scores.prediction)) * 10 + 1000
    stuck_probability = None if TASK == "regression" else 0.999
    many = generate(600, seed=12)
    log_served(
        settings.store.url,
        many,
        [stuck] * len(many),
        [stuck_probability] * len(many),
        version=version,
        with_features=False,
    )
    drifting = monitor(settings)
    assert drifting.prediction_drift is not None
    assert drifting.prediction_drift.drifted
    assert any("drift in" in alert and "(v" in alert for alert in drifting.alerts)


def test_report_is_written(memory_settings: Settings) -> None:
    report = monitor(memory_settings)
    assert report.report_uri.startswith(memory_settings.storage.reports_uri)
    assert io.exists(report.report_uri)
    assert not report.retrain_needed
    assert report.metric == METRIC
    assert report.summary().startswith(f"{METRIC} n/a (0 with feedback)")


def test_psi_is_zero_for_the_same_population_and_large_for_a_shift() -> None:
    values = pd.Series(range(1000), dtype=float)
    assert population_stability_index(values, values) == pytest.approx(0, abs=1e-9)
    assert population_stability_index(values, values + 2000) > 1
    missing = pd.Series([None] * 500, dtype=float)
    assert population_stability_index(values, missing) > 1
    labels = pd.Series(["a", "b"] * 500)
    assert population_stability_index(labels, labels, categorical=True) == pytest.approx(0)
    assert population_stability_index(labels, pd.Series(["c"] * 100), categorical=True) > 1


@given(
    reference=st.lists(st.floats(allow_nan=True, allow_infinity=False), max_size=60),
    current=st.lists(st.floats(allow_nan=True, allow_infinity=False), max_size=60),
    categorical=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_psi_is_finite_and_never_negative(
    reference: list[float], current: list[float], categorical: bool
) -> None:
    first, second = pd.Series(reference, dtype=float), pd.Series(current, dtype=float)
    psi = population_stability_index(first, second, categorical)
    assert np.isfinite(psi)
    assert psi >= 0
    assert population_stability_index(first, first, categorical) == pytest.approx(0, abs=1e-9)
