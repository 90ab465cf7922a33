"""Evaluation metrics and the HTML training report (plots embedded as PNG).

The task (dataset.py) picks the metrics and the plots: a confusion matrix for
classifiers (and the ROC curve for binary), predicted against actual values and the
residuals for regression. Permutation importance is measured in the gate's metric.
"""

import base64
import html
import io as bytes_io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from .model import Model, Scores
from .settings import LOWER_IS_BETTER


def evaluate(
    target: pd.Series, outputs: npt.NDArray[np.float64], scores: Scores, classes: tuple[object, ...]
) -> dict[str, float]:
    """The test-split metrics of the task: the gate picks one of them (training.metric)."""
    truth, predicted = target.to_numpy(), scores.prediction
    if not classes:
        rmse = float(root_mean_squared_error(truth, predicted))
        # Both are undefined for a constant target (sklearn would report R² 0 or 1); exact
        # comparison, as the standard deviation of equal floats may be a rounding error.
        varies = len(truth) > 1 and bool((truth != truth[0]).any())
        spread = float(np.std(truth)) if varies else 0.0
        return {
            "r2": float(r2_score(truth, predicted)) if varies else float("nan"),
            "rmse": rmse,
            "mae": float(mean_absolute_error(truth, predicted)),
            "relative_rmse": rmse / spread if varies else float("nan"),
        }
    if len(classes) > 2:
        return {
            "f1_macro": float(f1_score(truth, predicted, average="macro", zero_division=0)),
            "accuracy": float(accuracy_score(truth, predicted)),
            "precision_macro": float(
                precision_score(truth, predicted, average="macro", zero_division=0)
            ),
            "recall_macro": float(recall_score(truth, predicted, average="macro", zero_division=0)),
        }
    positive = classes[1]
    return {
        "roc_auc": float(roc_auc_score(truth == positive, outputs))
        if len(set(truth.tolist())) > 1
        else float("nan"),
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision": float(precision_score(truth, predicted, pos_label=positive, zero_division=0)),
        "recall": float(recall_score(truth, predicted, pos_label=positive, zero_division=0)),
        "f1": float(f1_score(truth, predicted, pos_label=positive, zero_division=0)),
    }


def feature_importance(
    model: Model, features: pd.DataFrame, target: pd.Series, metric: str, threshold: float
) -> pd.Series:
    """Permutation importance of each model feature, in `metric` (a key of `evaluate`).

    How much worse the metric gets when the feature's values are shuffled: a drop for
    metrics where higher is better, a rise for the others (relative_rmse). Features
    whose importance is undefined (a metric undefined on this data) are left out.
    """
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    classes = model.classes

    def score(_: object, frame: pd.DataFrame, labels: pd.Series) -> float:
        outputs = model.outputs(frame)
        scores = model.scores_of(outputs, threshold)
        return sign * evaluate(labels, outputs, scores, classes)[metric]

    result = permutation_importance(
        model, features[model.feature_names], target, scoring=score, n_repeats=3, random_state=0
    )
    importances = pd.Series(result.importances_mean, index=model.feature_names)
    return importances.dropna().sort_values(ascending=False)


def _png(figure: Figure) -> str:
    buffer = bytes_io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _classifier_plots(
    target: pd.Series, outputs: npt.NDArray[np.float64], scores: Scores, classes: tuple[object, ...]
) -> list[tuple[str, Figure]]:
    confusion, axis = plt.subplots(figsize=(4 + 0.4 * len(classes), 4 + 0.4 * len(classes)))
    ConfusionMatrixDisplay.from_predictions(
        target.to_numpy(),
        scores.prediction,
        labels=list(classes),
        display_labels=[str(label) for label in classes],
        ax=axis,
        colorbar=False,
    )
    axis.set_title("Confusion matrix")
    plots = [("confusion matrix", confusion)]
    truth = target.to_numpy() == classes[-1]
    if len(classes) == 2 and 0 < truth.sum() < len(truth):
        roc, axis = plt.subplots(figsize=(4, 4))
        RocCurveDisplay.from_predictions(truth, outputs, ax=axis, name=f"P({classes[-1]})")
        axis.set_title("ROC curve")
        plots.append(("ROC curve", roc))
    return plots


def _regression_plots(target: pd.Series, predicted: npt.NDArray[Any]) -> list[tuple[str, Figure]]:
    actual = target.to_numpy(dtype=np.float64)
    values = np.asarray(predicted, dtype=np.float64)
    versus, axis = plt.subplots(figsize=(4, 4))
    axis.scatter(actual, values, s=8, alpha=0.5)
    low, high = float(min(actual.min(), values.min())), float(max(actual.max(), values.max()))
    axis.plot([low, high], [low, high], color="tab:red", linewidth=1, label="predicted = actual")
    axis.set_xlabel("actual")
    axis.set_ylabel("predicted")
    axis.legend(loc="upper left")
    axis.set_title("Predicted vs actual")
    residuals, axis = plt.subplots(figsize=(4, 4))
    axis.scatter(values, actual - values, s=8, alpha=0.5)
    axis.axhline(0, color="tab:red", linewidth=1)
    axis.set_xlabel("predicted")
    axis.set_ylabel("actual - predicted")
    axis.set_title("Residuals")
    return [("predicted vs actual", versus), ("residuals", residuals)]


def render_report(
    title: str,
    facts: Mapping[str, str],
    metrics: Mapping[str, float],
    target: pd.Series,
    outputs: npt.NDArray[np.float64],
    scores: Scores,
    classes: tuple[object, ...],
    importances: pd.Series,
    metric: str,
) -> str:
    """One self-contained HTML page: facts (task, data, decision), metrics and plots.

    `classes` empty means regression. `importances` are in `metric` (feature_importance).
    """
    if len(target) == 0:
        plots: list[tuple[str, Figure]] = []
    elif classes:
        plots = _classifier_plots(target, outputs, scores, classes)
    else:
        plots = _regression_plots(target, scores.prediction)
    if not importances.empty:
        bars, axis = plt.subplots(figsize=(6, 1.5 + 0.3 * len(importances)))
        importances.sort_values().plot.barh(ax=axis)
        change = "rise" if metric in LOWER_IS_BETTER else "drop"
        axis.set_title(f"Permutation importance ({metric} {change} when shuffled)")
        plots.append(("feature importance", bars))

    def table(rows: Mapping[str, object]) -> str:
        cells = "".join(
            f"<tr><th>{html.escape(name)}</th><td>{html.escape(text(value))}</td></tr>"
            for name, value in rows.items()
        )
        return f"<table>{cells}</table>"

    images = "".join(
        f'<figure><img alt="{alt}" src="data:image/png;base64,{_png(figure)}"></figure>'
        for alt, figure in plots
    )
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<style>body{font-family:sans-serif;margin:2rem}td,th{padding:.2rem .8rem;"
        "text-align:left}figure{display:inline-block;margin:1rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>Created {created}</p>"
        f"<h2>Run</h2>{table(facts)}<h2>Metrics (test split)</h2>{table(metrics)}"
        f"<h2>Plots</h2>{images}</body></html>\n"
    )


def text(value: object) -> str:
    """A table cell: numbers to four decimals, anything else as it prints."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
