"""Monitoring: recent predictions against feedback (quality) and training data (drift).

Looks back `monitoring.window_days` in the prediction store. Quality is judged on
predictions that received feedback, once there are `monitoring.min_feedback` of them:
accuracy for classifiers (alert below `monitoring.min_accuracy`), relative RMSE for
regression (RMSE / standard deviation of the outcomes; alert above
`monitoring.max_relative_rmse`). Drift is the population stability index (PSI) of
each model feature between the training data and the features seen recently (served
requests and the latest batch), and of the predictions: the current model's answers on
the training data against its recent ones (P(positive class) for binary, the predicted
class for multiclass, the value for regression), once there are `monitoring.min_rows`
of them. A JSON report is written either way; `alerts` is non-empty when the model
should be retrained.
{%- if cookiecutter.tracking == "mlflow" %}

Each run is also logged to the MLflow experiment: the figures as metrics (quality,
rows judged, PSI per feature), the alerts as a tag and the JSON report as an artifact.
{%- endif %}
"""

import json
import math
{%- if cookiecutter.tracking == "mlflow" %}
import re
{%- endif %}
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa

from .. import data, io{% if cookiecutter.tracking == "mlflow" %}, tracking{% endif %}
from ..contracts import CATEGORICAL_FEATURES, FEATURE_COLUMNS, TASK
from ..decorators import log_time
from ..logs import get_logger
from ..registry import ModelNotFoundError, open_registry
from ..settings import Settings
from ..store import Store, batch_predictions, predictions, utc_now

logger = get_logger(__name__)

PSI_BINS = 10
PSI_FLOOR = 1e-4
MISSING = "<missing>"
# What the prediction drift compares: the probability, or the prediction itself.
PREDICTION_OUTPUT = "probability" if TASK == "binary" else "prediction"
FEEDBACK_METRIC = "relative_rmse" if TASK == "regression" else "accuracy"
{%- if cookiecutter.tracking == "mlflow" %}
# Characters MLflow refuses in a metric name, and the length it allows a tag value.
METRIC_KEY = re.compile(r"[^\w\-. /]")
MAX_TAG_LENGTH = 5000
{%- endif %}


class RetrainNeededError(Exception):
    """Monitoring found poor quality on feedback or drift: retrain the model."""


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    drifted: bool


@dataclass(frozen=True)
class MonitorReport:
    """What monitor found: `metric` on `labelled` predictions, drift, and the alerts."""

    generated_at: datetime
    window_start: datetime
    labelled: int
    metric: str
    score: float | None
    recent_rows: int
    drift: list[FeatureDrift]
    prediction_drift: FeatureDrift | None = None
    recent_predictions: int = 0
    alerts: list[str] = field(default_factory=list)
    report_uri: str = ""

    @property
    def retrain_needed(self) -> bool:
        return bool(self.alerts)

    @property
    def accuracy(self) -> float | None:
        """Accuracy on feedback (classifiers), None before enough feedback or for regression."""
        return self.score if self.metric == "accuracy" else None

    def summary(self) -> str:
        """One line: the quality metric on feedback and how much recent data was judged."""
        score = "n/a" if self.score is None else f"{self.score:.3f}"
        return (
            f"{self.metric} {score} ({self.labelled} with feedback),"
            f" {self.recent_rows} rows, {self.recent_predictions} predictions"
        )


def _numeric_counts(
    reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Counts per reference-quantile bin, plus one bin of missing values."""
    known = reference[~np.isnan(reference)]
    if len(known):
        edges = np.unique(np.quantile(known, np.linspace(0, 1, PSI_BINS + 1)))
        edges = np.concatenate(([-np.inf], edges[1:-1], [np.inf]))
    else:
        edges = np.array([-np.inf, np.inf])

    def counts(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        binned = np.histogram(values[~np.isnan(values)], edges)[0]
        return np.append(binned, np.isnan(values).sum()).astype(np.int64)

    return counts(reference), counts(current)


def _shares(
    reference: pd.Series, current: pd.Series, categorical: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Share of each population per bin: categories, or reference quantiles (+ missing)."""
    if categorical:
        ref = reference.astype(object).where(reference.notna(), MISSING).astype(str)
        cur = current.astype(object).where(current.notna(), MISSING).astype(str)
        categories = sorted(set(ref) | set(cur))
        counts_ref = ref.value_counts().reindex(categories, fill_value=0).to_numpy()
        counts_cur = cur.value_counts().reindex(categories, fill_value=0).to_numpy()
    else:
        counts_ref, counts_cur = _numeric_counts(
            pd.to_numeric(reference, errors="coerce").to_numpy(dtype=np.float64),
            pd.to_numeric(current, errors="coerce").to_numpy(dtype=np.float64),
        )
    shares_ref = np.maximum(counts_ref / max(counts_ref.sum(), 1), PSI_FLOOR)
    shares_cur = np.maximum(counts_cur / max(counts_cur.sum(), 1), PSI_FLOOR)
    return shares_ref, shares_cur


def population_stability_index(
    reference: pd.Series, current: pd.Series, categorical: bool | None = None
) -> float:
    """PSI of `current` against `reference`: ~0 alike, > 0.2 a significant shift.

    Categories are compared as they are; numbers in ten bins at the reference's
    deciles. Missing values form a bin of their own. `categorical` defaults to whether
    the series is named after a categorical feature of the contract.
    """
    if categorical is None:
        categorical = reference.name in CATEGORICAL_FEATURES
    expected, actual = _shares(reference, current, categorical)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def feedback_score(labelled: pd.DataFrame) -> float:
    """Accuracy (classifiers) or relative RMSE (regression) of predictions with feedback.

    Relative RMSE is the RMSE over the standard deviation of the outcomes: 1 is no
    better than always answering their mean.
    """
    if TASK != "regression":
        return float((labelled["prediction"] == labelled["outcome"]).mean())
    predicted = labelled["prediction"].to_numpy(dtype=np.float64)
    outcome = labelled["outcome"].to_numpy(dtype=np.float64)
    rmse = float(np.sqrt(np.mean((predicted - outcome) ** 2)))
    spread = float(np.std(outcome))
    if spread > 0:
        return rmse / spread
    return 0.0 if rmse == 0 else math.inf


def recent_predictions(store: Store, since: datetime, model_version: str) -> pd.Series:
    """The `PREDICTION_OUTPUT` of one model version since `since`: served and batch."""
    served = sa.select(predictions.c[PREDICTION_OUTPUT]).where(
        predictions.c.created_at >= since, predictions.c.model_version == model_version
    )
    batch = sa.select(batch_predictions.c[PREDICTION_OUTPUT]).where(
        batch_predictions.c.scored_at >= since,
        batch_predictions.c.model_version == model_version,
    )
    with store.engine.connect() as connection:
        values = [row[0] for row in connection.execute(sa.union_all(served, batch))]
    return pd.Series(values, name=PREDICTION_OUTPUT, dtype=object)


def training_predictions(settings: Settings, reference: pd.DataFrame) -> tuple[str, pd.Series]:
    """The environment's model version and its `PREDICTION_OUTPUT` on the training data."""
    model, card = open_registry(settings).load(settings.env)
    scores = model.score(reference, settings.model.threshold)
    values = scores.probability if PREDICTION_OUTPUT == "probability" else scores.prediction
    return f"v{card.version}", pd.Series(values, name=PREDICTION_OUTPUT)


@log_time
def monitor(settings: Settings) -> MonitorReport:
    """Judge recent predictions; write the JSON report and return it (alerts included)."""
    config = settings.monitoring
    now = utc_now()
    since = now - timedelta(days=config.window_days)
    store = Store(settings.store.url)
    try:
        labelled = store.labelled_predictions(since)
        recent = store.recent_features(since)
        alerts: list[str] = []
        score = None
        if len(labelled) >= config.min_feedback:
            score = feedback_score(labelled)
            alert = _quality_alert(score, len(labelled), settings)
            if alert:
                alerts.append(alert)
        drift: list[FeatureDrift] = []
        prediction_drift = None
        recent_outputs = pd.Series(dtype=object)
        if len(recent) >= config.min_rows:
            reference = data.build_features(data.clean(data.load_raw(settings.data.train_uri)))
            for feature in FEATURE_COLUMNS:
                psi = population_stability_index(reference[feature], recent[feature])
                drift.append(FeatureDrift(feature, round(psi, 4), psi > config.max_psi))
            try:
                version, trained = training_predictions(settings, reference)
            except ModelNotFoundError as error:
                logger.warning("monitor.no_model", reason=str(error))
            else:
                recent_outputs = recent_predictions(store, since, version)
            if len(recent_outputs) >= config.min_rows:
                categorical = TASK == "multiclass"
                psi = population_stability_index(trained, recent_outputs, categorical)
                prediction_drift = FeatureDrift(
                    f"{PREDICTION_OUTPUT} ({version})", round(psi, 4), psi > config.max_psi
                )
    finally:
        store.close()
    drifted = [item for item in [*drift, prediction_drift] if item is not None and item.drifted]
    if drifted:
        listed = ", ".join(f"{item.feature} (PSI {item.psi:.2f})" for item in drifted)
        alerts.append(f"drift in {listed}; monitoring.max_psi is {config.max_psi}")

    report = MonitorReport(
        generated_at=now,
        window_start=since,
        labelled=len(labelled),
        metric=FEEDBACK_METRIC,
        score=score,
        recent_rows=len(recent),
        drift=drift,
        prediction_drift=prediction_drift,
        recent_predictions=len(recent_outputs),
        alerts=alerts,
    )
    report_uri = io.join(settings.storage.reports_uri, f"monitor-{now:%Y%m%dT%H%M%SZ}.json")
    io.write_text(report_uri, json.dumps(asdict(report), default=str, indent=2))
{%- if cookiecutter.tracking == "mlflow" %}
    log_run(settings, report, report_uri)
{%- endif %}
    logger.info(
        "monitor.done",
        metric=FEEDBACK_METRIC,
        score=score,
        labelled=len(labelled),
        recent_rows=len(recent),
        alerts=len(alerts),
        report=report_uri,
    )
    return replace(report, report_uri=report_uri)
{%- if cookiecutter.tracking == "mlflow" %}


def log_run(settings: Settings, report: MonitorReport, report_uri: str) -> None:
    """Log the report's figures, its alerts and the report itself as an MLflow run."""
    figures = {
        "labelled": float(report.labelled),
        "recent_rows": float(report.recent_rows),
        "recent_predictions": float(report.recent_predictions),
        "alerts": float(len(report.alerts)),
    }
    if report.score is not None:
        figures[report.metric] = report.score
    drift = [*report.drift, *([report.prediction_drift] if report.prediction_drift else [])]
    for item in drift:
        figures[f"psi.{METRIC_KEY.sub('_', item.feature)}"] = item.psi
    tags = {"job": "monitor", "env": settings.env}
    with tracking.start_run(settings.tracking, f"monitor-{settings.env}", tags) as run:
        run.log_params({f"monitoring.{key}": value for key, value in settings.monitoring})
        run.log_metrics(figures)
        run.set_tags({"alerts": "; ".join(report.alerts)[:MAX_TAG_LENGTH] or "none"})
        text = json.dumps(asdict(report), default=str, indent=2)
        run.log_text(text, report_uri.rsplit("/", 1)[-1])
{%- endif %}


def _quality_alert(score: float, labelled: int, settings: Settings) -> str | None:
    config = settings.monitoring
    if TASK == "regression":
        if score <= config.max_relative_rmse:
            return None
        return (
            f"relative_rmse {score:.3f} on {labelled} predictions with feedback is above"
            f" monitoring.max_relative_rmse {config.max_relative_rmse}"
        )
    if score >= config.min_accuracy:
        return None
    return (
        f"accuracy {score:.3f} on {labelled} predictions with feedback is below"
        f" monitoring.min_accuracy {config.min_accuracy}"
    )
