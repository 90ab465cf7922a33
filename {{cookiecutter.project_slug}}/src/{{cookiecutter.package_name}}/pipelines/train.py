"""Training: load -> clean -> features -> fit -> evaluate (metric gate) -> register."""

import math
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from .. import data, io
from ..contracts import TASK
from ..decorators import log_time
from ..logs import get_logger
from ..model import GradientBoostingModel
from ..registry import ModelCard, Registry
from ..report import evaluate, feature_importance, render_report
from ..settings import LOWER_IS_BETTER, Settings

logger = get_logger(__name__)


class MetricGateError(Exception):
    """The trained model scored below the configured minimum; nothing was registered."""


def check_splittable(target: pd.Series, test_size: float) -> None:
    """DataError unless the split leaves rows in both parts (and, for classifiers, every
    class in both parts: a stratified split).

    Data with a single class splits; its metrics are undefined and fail the gate.
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


@dataclass(frozen=True)
class TrainResult:
    card: ModelCard
    report_uri: str


@log_time
def train(settings: Settings) -> TrainResult:
    features = data.build_features(data.clean(data.load_raw(settings.data.train_uri)))
    inputs, target = data.split_target(features)
    check_splittable(target, settings.training.test_size)
    train_x, test_x, train_y, test_y = train_test_split(
        inputs,
        target,
        test_size=settings.training.test_size,
        random_state=settings.training.random_state,
        stratify=None if TASK == "regression" else target,
    )
    model = GradientBoostingModel(settings.model).fit(train_x, train_y)
    outputs = model.outputs(test_x)
    scores = model.scores_of(outputs, settings.model.threshold)
    metrics = evaluate(test_y, outputs, scores, model.classes)
    logger.info("train.metrics", **metrics)

    report = render_report(
        f"{settings.model.name} ({settings.env})",
        metrics,
        test_y,
        outputs,
        settings.model.threshold,
        feature_importance(model, test_x, test_y),
    )
    gate = settings.training
    undefined = sorted(name for name, value in metrics.items() if not math.isfinite(value))
    if undefined or not gate.passes(metrics[gate.metric]):
        rejected_uri = io.join(settings.storage.reports_uri, "train-rejected.html")
        io.write_text(rejected_uri, report)
        reason = (
            f"{', '.join(undefined)} undefined (NaN) on the test split"
            if undefined
            else f"{gate.metric} {metrics[gate.metric]:.4f} fails the gate"
            f" ({'at most' if gate.metric in LOWER_IS_BETTER else 'at least'} {gate.threshold})"
        )
        raise MetricGateError(f"{reason}; model not registered (report: {rejected_uri})")

    registry = Registry(settings.storage.registry_uri, settings.model.name)
    card = registry.register(
        model,
        metrics=metrics,
        data_fingerprint=data.fingerprint(features),
    )
    registry.set_alias(settings.env, card.version)
    report_uri = io.join(settings.storage.reports_uri, f"train-v{card.version}.html")
    io.write_text(report_uri, report)
    logger.info("train.registered", version=card.version, alias=settings.env, report=report_uri)
    return TrainResult(card=card, report_uri=report_uri)
