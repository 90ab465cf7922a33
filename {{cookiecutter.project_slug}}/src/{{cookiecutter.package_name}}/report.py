"""Evaluation metrics and the HTML training report (plots embedded as PNG)."""

import base64
import html
import io as bytes_io
from datetime import UTC, datetime

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


def evaluate(
    target: pd.Series, outputs: npt.NDArray[np.float64], scores: Scores, classes: tuple[object, ...]
) -> dict[str, float]:
    """The test-split metrics of the task: the gate picks one of them (training.metric)."""
    truth, predicted = target.to_numpy(), scores.prediction
    if not classes:
        rmse = float(root_mean_squared_error(truth, predicted))
        spread = float(np.std(truth))
        return {
            "r2": float(r2_score(truth, predicted)) if len(truth) > 1 else float("nan"),
            "rmse": rmse,
            "mae": float(mean_absolute_error(truth, predicted)),
            "relative_rmse": rmse / spread if spread > 0 else float("nan"),
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


def importance_metric(classes: tuple[object, ...]) -> str:
    """The metric permutation importance measures the drop of."""
    return "R²" if not classes else "ROC AUC" if len(classes) == 2 else "accuracy"


def feature_importance(model: Model, features: pd.DataFrame, target: pd.Series) -> pd.Series:
    """Permutation importance of each model feature: the drop of `importance_metric`."""
    classes = model.classes

    def score(_: object, frame: pd.DataFrame, labels: pd.Series) -> float:
        outputs = model.outputs(frame)
        if not classes:
            return float(r2_score(labels, outputs))
        if len(classes) == 2:
            return float(roc_auc_score(labels == classes[1], outputs))
        return float(accuracy_score(labels, model.scores_of(outputs, 0.5).prediction))

    result = permutation_importance(
        model, features[model.feature_names], target, scoring=score, n_repeats=5, random_state=0
    )
    importances = pd.Series(result.importances_mean, index=model.feature_names)
    return importances.sort_values(ascending=False)


def _png(figure: Figure) -> str:
    buffer = bytes_io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_report(
    title: str,
    metrics: dict[str, float],
    target: pd.Series,
    probabilities: npt.NDArray[np.float64],
    threshold: float,
    importances: pd.Series,
) -> str:
    """An HTML page with the metrics table, confusion matrix, ROC curve and importances."""
    confusion, axis = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay.from_predictions(
        target, (probabilities >= threshold).astype(int), ax=axis, colorbar=False
    )
    axis.set_title("Confusion matrix")
    roc, axis = plt.subplots(figsize=(4, 4))
    RocCurveDisplay.from_predictions(target, probabilities, ax=axis)
    axis.set_title("ROC curve")
    bars, axis = plt.subplots(figsize=(6, 4))
    importances.sort_values().plot.barh(ax=axis)
    axis.set_title("Permutation importance (ROC AUC drop)")

    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{value:.4f}</td></tr>"
        for name, value in metrics.items()
    )
    images = "".join(
        f'<figure><img alt="{alt}" src="data:image/png;base64,{_png(figure)}"></figure>'
        for alt, figure in (
            ("confusion matrix", confusion),
            ("ROC curve", roc),
            ("feature importance", bars),
        )
    )
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<style>body{font-family:sans-serif;margin:2rem}td,th{padding:.2rem .8rem;"
        "text-align:left}figure{display:inline-block;margin:1rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>Created {created}</p>"
        f"<h2>Metrics</h2><table>{rows}</table><h2>Plots</h2>{images}</body></html>\n"
    )
