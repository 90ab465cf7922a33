"""Monitoring: recent predictions against feedback (accuracy) and training data (drift).

Looks back `monitoring.window_days` in the prediction store. Accuracy is judged on
predictions that received feedback, once there are `monitoring.min_feedback` of them;
drift is the population stability index (PSI) of each model feature between the
training data and the features seen recently (served requests and the latest batch),
once there are `monitoring.min_rows` of them. A JSON report is written either way;
`alerts` is non-empty when the model should be retrained.
"""

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from .. import data, io
from ..contracts import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from ..decorators import log_time
from ..logs import get_logger
from ..settings import Settings
from ..store import Store, utc_now

logger = get_logger(__name__)

PSI_BINS = 10
PSI_FLOOR = 1e-4


class RetrainNeededError(Exception):
    """Monitoring found accuracy below the threshold or drift: retrain the model."""


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    drifted: bool


@dataclass(frozen=True)
class MonitorReport:
    generated_at: datetime
    window_start: datetime
    labelled: int
    accuracy: float | None
    recent_rows: int
    drift: list[FeatureDrift]
    alerts: list[str] = field(default_factory=list)
    report_uri: str = ""

    @property
    def retrain_needed(self) -> bool:
        return bool(self.alerts)


def _shares(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Share of each population per bin: reference quantiles, or categories."""
    if reference.name in CATEGORICAL_FEATURES:
        ref = reference.fillna("<missing>").astype(str)
        cur = current.fillna("<missing>").astype(str)
        categories = sorted(set(ref) | set(cur))
        counts_ref = ref.value_counts().reindex(categories, fill_value=0).to_numpy()
        counts_cur = cur.value_counts().reindex(categories, fill_value=0).to_numpy()
    else:
        ref_values = pd.to_numeric(reference, errors="coerce").dropna().to_numpy(dtype=float)
        cur_values = pd.to_numeric(current, errors="coerce").dropna().to_numpy(dtype=float)
        edges = np.unique(np.quantile(ref_values, np.linspace(0, 1, PSI_BINS + 1)))
        edges = np.concatenate(([-np.inf], edges[1:-1], [np.inf]))
        counts_ref = np.histogram(ref_values, edges)[0]
        counts_cur = np.histogram(cur_values, edges)[0]
    shares_ref = np.maximum(counts_ref / max(counts_ref.sum(), 1), PSI_FLOOR)
    shares_cur = np.maximum(counts_cur / max(counts_cur.sum(), 1), PSI_FLOOR)
    return shares_ref, shares_cur


def population_stability_index(reference: pd.Series, current: pd.Series) -> float:
    """PSI of `current` against `reference`: ~0 alike, > 0.2 a significant shift."""
    expected, actual = _shares(reference, current)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@log_time
def monitor(settings: Settings) -> MonitorReport:
    config = settings.monitoring
    now = utc_now()
    since = now - timedelta(days=config.window_days)
    store = Store(settings.store.url)
    try:
        labelled = store.labelled_predictions(since)
        recent = store.recent_features(since)
    finally:
        store.close()

    alerts: list[str] = []
    accuracy = None
    if len(labelled) >= config.min_feedback:
        accuracy = float((labelled["prediction"] == labelled["outcome"]).mean())
        if accuracy < config.min_accuracy:
            alerts.append(
                f"accuracy {accuracy:.3f} on {len(labelled)} predictions with feedback is below"
                f" monitoring.min_accuracy {config.min_accuracy}"
            )
    drift: list[FeatureDrift] = []
    if len(recent) >= config.min_rows:
        reference = data.build_features(data.clean(data.load_raw(settings.data.train_uri)))
        for feature in FEATURE_COLUMNS:
            psi = population_stability_index(reference[feature], recent[feature])
            drift.append(FeatureDrift(feature, round(psi, 4), psi > config.max_psi))
        drifted = [item for item in drift if item.drifted]
        if drifted:
            listed = ", ".join(f"{item.feature} (PSI {item.psi:.2f})" for item in drifted)
            alerts.append(f"drift in {listed}; monitoring.max_psi is {config.max_psi}")

    report = MonitorReport(now, since, len(labelled), accuracy, len(recent), drift, alerts)
    report_uri = io.join(settings.storage.reports_uri, f"monitor-{now:%Y%m%dT%H%M%SZ}.json")
    io.write_text(report_uri, json.dumps(asdict(report), default=str, indent=2))
    logger.info(
        "monitor.done",
        accuracy=accuracy,
        labelled=len(labelled),
        recent_rows=len(recent),
        alerts=len(alerts),
        report=report_uri,
    )
    return replace(report, report_uri=report_uri)
