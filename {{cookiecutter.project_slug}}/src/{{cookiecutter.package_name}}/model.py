"""The model interface and its default scikit-learn implementation.

Models are stored with skops, which loads without executing arbitrary code: any
type outside the allow-list below is refused at load time.
"""

import math
from abc import ABC, abstractmethod
from typing import Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import skops.io as sio
from pydantic import JsonValue
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from .contracts import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES
from .logs import shorten
from .settings import ModelSettings

TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


class ModelLoadError(Exception):
    """A stored model cannot be loaded: unreadable, untrusted or of another kind."""


class UntrustedModelError(ModelLoadError):
    """A stored model contains types that are not on the allow-list."""


def json_safe(value: object) -> JsonValue:
    """`value` as JSON: numbers, text, booleans and None as they are, anything else as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    return repr(value)


class Model(ABC):
    """What the pipelines and the service need from a model."""

    @abstractmethod
    def fit(self, features: pd.DataFrame, target: pd.Series) -> Self: ...

    @abstractmethod
    def predict_proba(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Probability of the positive class for each row."""

    @abstractmethod
    def save(self) -> bytes:
        """Serialise the fitted model."""

    @classmethod
    @abstractmethod
    def load(cls, data: bytes) -> Self:
        """Deserialise a model written by `save`."""

    @property
    @abstractmethod
    def feature_names(self) -> list[str]: ...

    @property
    @abstractmethod
    def estimator(self) -> str:
        """Import path of the estimator class, recorded in the model card."""

    @abstractmethod
    def params(self) -> dict[str, JsonValue]:
        """The estimator's actual hyperparameters, JSON-safe (recorded in the model card)."""

    def predict(self, features: pd.DataFrame, threshold: float = 0.5) -> npt.NDArray[np.int64]:
        return (self.predict_proba(features) >= threshold).astype(np.int64)


class GradientBoostingModel(Model):
    """Imputation and one-hot encoding followed by histogram gradient boosting."""

    def __init__(self, settings: ModelSettings | None = None) -> None:
        settings = settings or ModelSettings()
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        preprocess = ColumnTransformer(
            [
                ("numeric", "passthrough", list(NUMERIC_FEATURES)),
                ("categorical", categorical, list(CATEGORICAL_FEATURES)),
            ]
        )
        classifier = HistGradientBoostingClassifier(
            learning_rate=settings.learning_rate,
            max_iter=settings.max_iter,
            max_leaf_nodes=settings.max_leaf_nodes,
            early_stopping=False,
            random_state=0,
        )
        self.pipeline = Pipeline([("preprocess", preprocess), ("classifier", classifier)])

    @property
    def feature_names(self) -> list[str]:
        return list(FEATURE_COLUMNS)

    @property
    def estimator(self) -> str:
        final = self.pipeline.steps[-1][1]
        return f"{type(final).__module__.split('._')[0]}.{type(final).__name__}"

    def params(self) -> dict[str, JsonValue]:
        final = self.pipeline.steps[-1][1]
        return {key: json_safe(value) for key, value in final.get_params(deep=False).items()}

    def fit(self, features: pd.DataFrame, target: pd.Series) -> Self:
        self.pipeline.fit(features[self.feature_names], target)
        return self

    def predict_proba(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        probabilities = self.pipeline.predict_proba(features[self.feature_names])
        return np.asarray(probabilities[:, 1], dtype=np.float64)

    def save(self) -> bytes:
        payload: bytes = sio.dumps(self.pipeline)
        return payload

    @classmethod
    def load(cls, data: bytes) -> Self:
        """Load a pipeline saved by `save`; ModelLoadError for anything else."""
        try:
            found = set(sio.get_untrusted_types(data=data))
        except Exception as error:  # skops raises zip, JSON and key errors for foreign bytes
            raise ModelLoadError(
                f"not a skops model file ({type(error).__name__}: {shorten(str(error))});"
                " a pickle or other format is never loaded"
            ) from None
        untrusted = sorted(found - set(TRUSTED_TYPES))
        if untrusted:
            raise UntrustedModelError(
                f"refusing to load model with untrusted types: {shorten(untrusted)}"
            )
        try:
            pipeline = sio.loads(data, trusted=list(TRUSTED_TYPES))
        except Exception as error:
            raise ModelLoadError(
                f"unreadable skops model file ({type(error).__name__}: {shorten(str(error))})"
            ) from None
        final = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
        if not isinstance(final, HistGradientBoostingClassifier):
            raise ModelLoadError(
                f"the stored model is a {shorten(type(final).__name__)}, expected a Pipeline"
                " ending in HistGradientBoostingClassifier (the kind this project trains)"
            )
        model = cls.__new__(cls)
        model.pipeline = pipeline
        return model
