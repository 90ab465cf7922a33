"""The model interface and its default scikit-learn implementation.

Models are stored with skops, which loads without executing arbitrary code: any
type outside the allow-list below is refused at load time.
"""

from abc import ABC, abstractmethod
from typing import Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from .contracts import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES
from .settings import ModelSettings

TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


class UntrustedModelError(Exception):
    """A stored model contains types that are not on the allow-list."""


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
        untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
        if untrusted:
            raise UntrustedModelError(f"refusing to load model with untrusted types: {untrusted}")
        model = cls.__new__(cls)
        model.pipeline = sio.loads(data, trusted=list(TRUSTED_TYPES))
        return model
