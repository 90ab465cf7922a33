"""Training: load -> clean -> features -> fit -> evaluate (metric gate) -> register.

The task (dataset.py) picks the estimator and the metrics; `training.metric` and
`training.gate` decide whether the model is registered. Classifiers are split
stratified by class; a metric that is undefined on the test split fails the gate.
{%- if cookiecutter.tracking == "mlflow" %}

Every training is logged as an MLflow run: parameters, metrics and the report, and the
model when it is registered; a rejected one ends FAILED, with no version.
{%- endif %}
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from .. import data, io{% if cookiecutter.tracking == "mlflow" %}, tracking{% endif %}
from ..contracts import CLASSES, TASK
from ..decorators import log_time
from ..logs import get_logger, shorten
from ..model import GradientBoostingModel
from ..registry import (
    ModelCard,
    ModelNotFoundError,
    Registry,
    RegistryError,
    baseline_of,
{%- if cookiecutter.tracking == "mlflow" %}
    code_version,
{%- endif %}
    open_registry,
)
from ..report import evaluate, feature_importance, render_report
from ..settings import LOWER_IS_BETTER, Settings, TrainingSettings

logger = get_logger(__name__)


class MetricGateError(Exception):
    """The trained model failed the metric gate (or its metric is undefined); not registered."""


def check_splittable(target: pd.Series, test_size: float) -> None:
    """DataError unless the split leaves rows in both parts (and, for classifiers, every
    class in both parts: a stratified split).

    Data that lacks some class splits; its metrics are undefined (`check_classes`).
    """
    rows = len(target)
    test_rows = math.ceil(rows * test_size)
    if rows - test_rows < 2 or test_rows < 1:
        raise data.DataError(
            f"training data has {rows} row(s), too few to split with training.test_size {test_size}"
        )
    if TASK == "regression":
        return
    counts = target.value_counts()
    classes = ", ".join(f"{label}: {count}" for label, count in counts.sort_index().items())
    if counts.min() < 2 or test_rows < len(counts) or rows - test_rows < len(counts):
        raise data.DataError(
            f"too few rows per class to split with training.test_size {test_size}"
            f" ({classes}); every class needs at least 2 rows"
        )


def check_classes(target: pd.Series, gate: TrainingSettings) -> None:
    """MetricGateError when a classifier's data lacks some of the target's classes.

    A model that never saw a class cannot predict it, and the gate's metric is then
    undefined (one class: no ROC AUC; a missing class: no macro average over all).
    """
    if TASK == "regression":
        return
    missing = [label for label in CLASSES if not (target == label).any()]
    if missing:
        raise MetricGateError(
            f"{gate.metric} undefined: the training data lacks the class(es)"
            f" {shorten(missing)} of {shorten(list(CLASSES))}; model not registered"
        )


def gate_failure(metrics: dict[str, float], gate: TrainingSettings) -> str | None:
    """Why the metrics fail the gate, or None when they pass."""
    undefined = sorted(name for name, value in metrics.items() if not math.isfinite(value))
    if undefined:
        return f"{', '.join(undefined)} undefined (NaN) on the test split"
    value = metrics[gate.metric]
    if gate.passes(value):
        return None
    bound = "at most" if gate.metric in LOWER_IS_BETTER else "at least"
    return f"{gate.metric} {value:.4f} fails the gate (training.gate: {bound} {gate.threshold})"


@dataclass(frozen=True)
class TrainResult:
    card: ModelCard
    report_uri: str


@log_time
def train(settings: Settings) -> TrainResult:
    """Train on `data.train_uri`, judge the test split and register a passing model.

    DataError for data that cannot be split; MetricGateError (and a report named
    train-rejected.html) when the model fails the gate.
    """
    gate = settings.training
    features = data.build_features(data.clean(data.load_raw(settings.data.train_uri)))
    inputs, target = data.split_target(features)
    check_splittable(target, gate.test_size)
    check_classes(target, gate)
    train_x, test_x, train_y, test_y = train_test_split(
        inputs,
        target,
        test_size=gate.test_size,
        random_state=gate.random_state,
        stratify=None if TASK == "regression" else target,
    )
    model = GradientBoostingModel(settings.model).fit(train_x, train_y)
    threshold = settings.model.threshold
    outputs = model.outputs(test_x)
    scores = model.scores_of(outputs, threshold)
    metrics = evaluate(test_y, outputs, scores, model.classes)
    logger.info("train.metrics", **metrics)

    registry = open_registry(settings)
    previous = _current(registry, settings.env)
    facts = {
        "task": TASK,
        "gate": f"{gate.metric} {'<=' if gate.metric in LOWER_IS_BETTER else '>='}"
        f" {gate.threshold}",
        "training data": f"{settings.data.train_uri} ({len(features)} rows:"
        f" {len(train_y)} train, {len(test_y)} test)",
        "estimator": model.estimator,
        "replaces": "nothing (first version for this environment)"
        if previous is None
        else f"v{previous.version}: {previous.metric}"
        f" {previous.metrics.get(previous.metric, float('nan')):.4f}",
    }

    def report(decision: str) -> str:
        return render_report(
            f"{settings.model.name} ({settings.env}): {TASK}, gated on {gate.metric}",
            facts | {"decision": decision},
            metrics,
            test_y,
            outputs,
            scores,
            model.classes,
            feature_importance(model, test_x, test_y, gate.metric, threshold),
            gate.metric,
        )

    fingerprint = data.fingerprint(features)
{%- if cookiecutter.tracking == "mlflow" %}
    tags = {"job": "train", "env": settings.env}
    with tracking.start_run(settings.tracking, f"train-{settings.env}", tags) as run:
        run.log_params(run_params(settings, fingerprint, len(features)))
        run.log_metrics(metrics)
        return _decide(settings, registry, model, metrics, fingerprint, train_y, report, run)
{%- else %}
    return _decide(settings, registry, model, metrics, fingerprint, train_y, report)
{%- endif %}


def _decide(
    settings: Settings,
    registry: Registry,
    model: GradientBoostingModel,
    metrics: dict[str, float],
    fingerprint: str,
    train_y: pd.Series,
    report: Callable[[str], str],
{%- if cookiecutter.tracking == "mlflow" %}
    run: tracking.Run,
{%- endif %}
) -> TrainResult:
    """Register the model and point the environment's alias at it, if it passes the gate."""
    gate = settings.training
    reason = gate_failure(metrics, gate)
    if reason is not None:
        rejected_uri = io.join(settings.storage.reports_uri, "train-rejected.html")
        rejected = report(f"rejected: {reason}")
        io.write_text(rejected_uri, rejected)
{%- if cookiecutter.tracking == "mlflow" %}
        run.log_text(rejected, "train-rejected.html")
        run.set_tags({"decision": f"rejected: {reason}"})
{%- endif %}
        raise MetricGateError(f"{reason}; model not registered (report: {rejected_uri})")

    card = registry.register(
        model,
        metrics=metrics,
        data_fingerprint=fingerprint,
        metric=gate.metric,
        baseline=baseline_of(train_y),
    )
    registry.set_alias(settings.env, card.version)
    report_uri = io.join(settings.storage.reports_uri, f"train-v{card.version}.html")
    decision = f"registered as v{card.version}, alias {settings.env!r}"
    registered = report(decision)
    io.write_text(report_uri, registered)
{%- if cookiecutter.tracking == "mlflow" %}
    run.log_text(registered, f"train-v{card.version}.html")
    run.set_tags({"decision": decision, "version": str(card.version)})
{%- endif %}
    logger.info("train.registered", version=card.version, alias=settings.env, report=report_uri)
    return TrainResult(card=card, report_uri=report_uri)
{%- if cookiecutter.tracking == "mlflow" %}


def run_params(settings: Settings, fingerprint: str, rows: int) -> dict[str, object]:
    """What a training run logs as parameters: settings, data and code version."""
    model = {f"model.{key}": value for key, value in settings.model.model_dump().items()}
    training = {f"training.{key}": value for key, value in settings.training.model_dump().items()}
    return (
        model
        | training
        | {
            "training.threshold": settings.training.threshold,
            "data.train_uri": settings.data.train_uri,
            "data.fingerprint": fingerprint,
            "data.rows": rows,
            "code_version": code_version(),
            "task": TASK,
        }
    )
{%- endif %}


def _current(registry: Registry, env: str) -> ModelCard | None:
    """The version the environment's alias names now (the one a new model replaces)."""
    try:
        return registry.resolve(env)
    except ModelNotFoundError:
        return None
    except RegistryError as error:
        logger.warning("train.previous_unreadable", reason=str(error))
        return None
