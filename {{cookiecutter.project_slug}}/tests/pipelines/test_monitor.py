"""`monitor` on a real store: exit codes for healthy, inaccurate and drifting models."""

from datetime import timedelta

import pandas as pd
import pytest

from {{cookiecutter.package_name}}.cli import ExitCode, main
from {{cookiecutter.package_name}}.contracts import FEATURE_COLUMNS
from {{cookiecutter.package_name}}.data import add_features, apply_cleaning
from {{cookiecutter.package_name}}.datagen import generate_customers
from {{cookiecutter.package_name}}.pipelines.monitor import monitor, population_stability_index
from {{cookiecutter.package_name}}.settings import ENV_PREFIX, Settings
from {{cookiecutter.package_name}}.store import (
    PredictionRow,
    Store,
    json_records,
    new_prediction_id,
    utc_now,
)


def log_served(store_url: str, customers: pd.DataFrame, outcome_of: list[int] | None) -> None:
    """Log `customers` as served predictions (all predicted 1), with feedback if given."""
    features = add_features(apply_cleaning(customers.drop(columns=["churned"])))
    rows = [
        PredictionRow(
            id=new_prediction_id(),
            created_at=utc_now() - timedelta(hours=1),
            entity_id=record["customer_id"],
            model_version="v1",
            prediction=1,
            probability=0.9,
            source="request",
            features={key: record[key] for key in FEATURE_COLUMNS},
        )
        for record in json_records(features)
    ]
    store = Store(store_url)
    store.log_predictions(rows)
    for row, outcome in zip(rows, outcome_of or [], strict=False):
        store.add_feedback(row.id, outcome)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: object, store_url: str) -> str:
    monkeypatch.setenv(f"{ENV_PREFIX}STORE__URL", store_url)
    monkeypatch.setenv(f"{ENV_PREFIX}STORAGE__REPORTS_URI", str(tmp_path))
    return store_url


def test_nothing_to_judge_is_ok(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--env", "local"]) == ExitCode.OK
    assert "accuracy n/a (0 with feedback)" in capsys.readouterr().out


def test_healthy_model_exits_ok(env: str, memory_settings: Settings) -> None:
    customers = generate_customers(300, seed=11)
    log_served(env, customers, outcome_of=[1] * 300)

    assert main(["monitor", "--env", "local"]) == ExitCode.OK


def test_low_accuracy_asks_for_retraining(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    customers = generate_customers(100, seed=11)
    log_served(env, customers, outcome_of=[0] * 80 + [1] * 20)

    assert main(["monitor", "--env", "local"]) == ExitCode.RETRAIN_NEEDED
    assert "accuracy 0.200 on 100 predictions" in capsys.readouterr().err


def test_drift_asks_for_retraining(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    drifted = generate_customers(300, seed=3).assign(tenure_months=1000, support_calls=50)
    log_served(env, drifted, outcome_of=None)

    assert main(["monitor", "--env", "local"]) == ExitCode.RETRAIN_NEEDED
    message = capsys.readouterr().err
    assert "drift in" in message
    assert "tenure_months" in message


def test_report_is_written(memory_settings: Settings) -> None:
    report = monitor(memory_settings)
    assert report.report_uri.startswith(memory_settings.storage.reports_uri)
    assert not report.retrain_needed


def test_psi_is_zero_for_the_same_population_and_large_for_a_shift() -> None:
    values = pd.Series(range(1000), name="tenure_months", dtype=float)
    assert population_stability_index(values, values) == pytest.approx(0, abs=1e-9)
    assert population_stability_index(values, values + 2000) > 1
