"""`train` on data drawn from the contract, whatever the task: gate, report, registry."""

import re

import pandas as pd
import pytest
from structlog.testing import capture_logs

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.contracts import CLASSES, TARGET_COLUMN, TASK
from {{cookiecutter.package_name}}.data import DataError
from {{cookiecutter.package_name}}.pipelines.train import MetricGateError, train
from {{cookiecutter.package_name}}.registry import Registry{% if cookiecutter.tracking == "mlflow" %}, open_registry{% endif %}
from {{cookiecutter.package_name}}.settings import (
    LOWER_IS_BETTER,
    TASK_METRICS,
    Metric,
    ModelSettings,
    Settings,
    TrainingSettings,
)

METRICS = {
    "binary": {"roc_auc", "accuracy", "precision", "recall", "f1"},
    "multiclass": {"f1_macro", "accuracy", "precision_macro", "recall_macro"},
    "regression": {"r2", "rmse", "mae", "relative_rmse"},
}[TASK]
PLOTS = {
    "binary": ("confusion matrix", "ROC curve"),
    "multiclass": ("confusion matrix",),
    "regression": ("predicted vs actual", "residuals"),
}[TASK]


@pytest.fixture
def settings(memory_settings: Settings) -> Settings:
    """Memory settings with a smaller model: these tests judge the workflow, not the fit."""
    return memory_settings.model_copy(update={"model": ModelSettings(max_iter=60)})


def registry_of(settings: Settings) -> Registry:
{%- if cookiecutter.tracking == "mlflow" %}
    return open_registry(settings)
{%- else %}
    return Registry(settings.storage.registry_uri, settings.model.name)
{%- endif %}


def test_train_registers_a_model_and_writes_a_report(
    settings: Settings, table: pd.DataFrame
) -> None:
    with capture_logs() as logs:
        result = train(settings)

    card, gate = result.card, settings.training
    assert registry_of(settings).aliases() == {"test": card.version}
    assert gate.passes(card.metrics[gate.metric])
    assert set(card.metrics) == METRICS
    assert (card.task, card.metric, card.classes) == (TASK, gate.metric, list(CLASSES))
    report = io.read_text(result.report_uri)
    assert f"{TASK}, gated on {gate.metric}" in report
    for alt in (*PLOTS, "feature importance"):
        assert f'alt="{alt}"' in report
    assert report.count("data:image/png;base64,") == len(PLOTS) + 1
    assert f"registered as v{card.version}" in report
    assert not re.search(r"(src|href)=\"(https?:)?//", report), "the report must be self-contained"
    steps = [entry["step"] for entry in logs if entry["event"] == "step.time"]
    assert steps == ["load_raw", "clean", "build_features", "train"]


def test_the_card_records_the_baseline_answer_of_the_training_data(
    settings: Settings, table: pd.DataFrame
) -> None:
    baseline = train(settings).card.baseline
    target = table[TARGET_COLUMN]
    if TASK == "regression":
        assert baseline.probability is None
        assert baseline.prediction == pytest.approx(target.mean(), abs=target.std() / 2)
    else:  # a stratified split keeps the class shares of the whole table
        shares = target.value_counts(normalize=True)
        assert baseline.prediction == shares.idxmax()
        assert baseline.probability == pytest.approx(shares.max(), abs=0.01)


def test_a_second_version_names_the_one_it_replaces(settings: Settings) -> None:
    first = train(settings).card
    second = train(settings)
    assert second.card.version == first.version + 1
    assert f"v{first.version}: {first.metric}" in io.read_text(second.report_uri)


@pytest.mark.parametrize("metric", TASK_METRICS[TASK])
def test_metric_gate_blocks_registration(settings: Settings, metric: Metric) -> None:
    impossible = 0.0 if metric in LOWER_IS_BETTER else 1.5
    bound = "at most" if metric in LOWER_IS_BETTER else "at least"
    strict = settings.model_copy(
        update={"training": TrainingSettings(metric=metric, gate=impossible)}
    )
    with pytest.raises(
        MetricGateError,
        match=rf"{metric} [0-9.]+ fails the gate \(training.gate: {bound} {impossible}\)",
    ):
        train(strict)
    assert registry_of(strict).versions() == []
    rejected = io.read_text(io.join(strict.storage.reports_uri, "train-rejected.html"))
    assert "rejected:" in rejected


def test_training_data_must_carry_the_label(settings: Settings, table: pd.DataFrame) -> None:
    io.write_table(settings.data.train_uri, table.drop(columns=[TARGET_COLUMN]))
    with pytest.raises(DataError, match=f"no '{TARGET_COLUMN}' column"):
        train(settings)


def one_valued(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a single target value: one class, or a constant."""
    value = CLASSES[0] if CLASSES else table[TARGET_COLUMN].iloc[0]
    return table.assign(**{TARGET_COLUMN: value})


def test_a_single_valued_target_fails_the_gate_and_registers_nothing(
    settings: Settings, table: pd.DataFrame
) -> None:
    registry = registry_of(settings)
    first = train(settings).card
    io.write_table(settings.data.train_uri, one_valued(table))

    with pytest.raises(MetricGateError, match=rf"{settings.training.metric}.* undefined"):
        train(settings)
    assert registry.versions() == [first.version]
    assert registry.resolve("latest") == first
    assert registry.resolve(settings.env) == first


@pytest.mark.parametrize("rows", [0, 1], ids=["header-only", "one-row"])
def test_too_few_rows_to_split_is_a_data_error(
    settings: Settings, table: pd.DataFrame, rows: int
) -> None:
    io.write_table(settings.data.train_uri, table.head(rows))
    with pytest.raises(DataError, match=rf"{rows} row\(s\), too few to split"):
        train(settings)
    assert registry_of(settings).versions() == []


@pytest.mark.skipif(TASK == "regression", reason="classes only")
def test_a_class_of_one_row_is_a_data_error(settings: Settings, table: pd.DataFrame) -> None:
    rare, common = CLASSES[-1], CLASSES[0]
    labels = [rare] + [common] * 39
    io.write_table(settings.data.train_uri, table.head(40).assign(**{TARGET_COLUMN: labels}))
    with pytest.raises(DataError, match=rf"{re.escape(str(rare))}: 1\).*at least 2 rows"):
        train(settings)
    assert registry_of(settings).versions() == []
