"""The model interface and its default scikit-learn implementation.

Models are stored with skops, which loads without executing arbitrary code: any
type outside the allow-list below is refused at load time.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import skops.io as sio
from pydantic import JsonValue
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from .contracts import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES, TASK
from .logs import shorten
from .settings import ModelSettings

TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


# The estimator of each task: a classifier, or a regressor for regression.
ESTIMATORS = {False: HistGradientBoostingClassifier, True: HistGradientBoostingRegressor}


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


@dataclass(frozen=True)
class Scores:
    """A model's answers: the prediction per row and, for classifiers, its probability.

    Binary: the probability of the positive class (the second of `classes`), and the
    prediction is the positive class where it reaches the threshold. Multiclass: the
    most probable class and its probability. Regression: the value, no probability.
    """

    prediction: npt.NDArray[Any]
    probability: npt.NDArray[np.float64] | None


class Model(ABC):
    """What the pipelines and the service need from a model."""

    @abstractmethod
    def fit(self, features: pd.DataFrame, target: pd.Series) -> Self: ...

    @abstractmethod
    def outputs(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        """The estimator's answer per row: P(positive class) for binary, class probabilities
        (rows x classes, in `classes` order) for multiclass, values for regression."""

    @property
    @abstractmethod
    def classes(self) -> tuple[Any, ...]:
        """The classes a classifier learnt, in order; empty for regression."""

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

    def outputs_columns(self, columns: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
        """`outputs` of features held as one array per column (a request's records).

        The same answers as `outputs` on a frame of these columns; models may answer
        faster for a few rows by skipping the frame.
        """
        return self.outputs(pd.DataFrame({name: columns[name] for name in self.feature_names}))

    def score(self, features: pd.DataFrame, threshold: float = 0.5) -> Scores:
        """Predictions (and probabilities, for classifiers) of a frame of features."""
        return self.scores_of(self.outputs(features), threshold)

    def score_columns(
        self, columns: Mapping[str, npt.NDArray[Any]], threshold: float = 0.5
    ) -> Scores:
        """`score` of features held as one array per column."""
        return self.scores_of(self.outputs_columns(columns), threshold)

    def scores_of(self, outputs: npt.NDArray[np.float64], threshold: float) -> Scores:
        """Turn `outputs` into predictions, as the task (dataset.py) says."""
        if not self.classes:
            return Scores(np.asarray(outputs, dtype=np.float64), None)
        labels = np.asarray(self.classes)
        if outputs.ndim == 1:
            return Scores(labels[(outputs >= threshold).astype(np.intp)], outputs)
        best = outputs.argmax(axis=1)
        return Scores(labels[best], outputs[np.arange(len(outputs)), best])


@dataclass(frozen=True)
class _Passthrough:
    columns: tuple[str, ...]
    start: int


@dataclass(frozen=True)
class _OneHot:
    column: str
    fill: object  # what the imputer puts in place of a missing value
    positions: dict[object, int]  # category -> output column; unknown ones set none


@dataclass(frozen=True)
class MatrixEncoder:
    """A fitted ColumnTransformer as plain lookups: feature columns to the model's matrix.

    Built from the transformer's public fitted attributes (`transformers_`,
    `output_indices_`, the imputer's `statistics_`, the encoder's `categories_`) for the
    shapes this project fits: passthrough numbers, and text imputed then one-hot
    encoded with unknown categories ignored. On a few rows it skips the frame
    validation and per-column dispatch that cost milliseconds; the classifier then
    receives the same matrix as through the pipeline, so gives the same probabilities.
    """

    width: int
    passthrough: tuple[_Passthrough, ...]
    one_hot: tuple[_OneHot, ...]

    @classmethod
    def of(cls, preprocess: object) -> "MatrixEncoder | None":
        """The encoder equivalent to `preprocess`, or None for a shape it does not cover."""
        if not isinstance(preprocess, ColumnTransformer):
            return None
        passthrough: list[_Passthrough] = []
        one_hot: list[_OneHot] = []
        for name, transformer, columns in preprocess.transformers_:
            where = preprocess.output_indices_[name]
            if where.stop == where.start:  # dropped, or an empty remainder
                continue
            if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
                return None
            if isinstance(transformer, FunctionTransformer) and transformer.func is None:
                passthrough.append(_Passthrough(tuple(columns), where.start))
                continue
            encoded = _one_hot(transformer, columns, where.start)
            if encoded is None:
                return None
            one_hot.extend(encoded)
        width = max((where.stop for where in preprocess.output_indices_.values()), default=0)
        return cls(width, tuple(passthrough), tuple(one_hot))

    def encode(self, columns: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
        rows = len(next(iter(columns.values())))
        matrix = np.zeros((rows, self.width), dtype=np.float64)
        for block in self.passthrough:
            for offset, name in enumerate(block.columns):
                matrix[:, block.start + offset] = columns[name]
        for encoded in self.one_hot:
            values = columns[encoded.column]
            missing = pd.isna(values)
            for row, value in enumerate(values):
                position = encoded.positions.get(encoded.fill if missing[row] else value)
                if position is not None:
                    matrix[row, position] = 1.0
        return matrix


def _one_hot(transformer: object, columns: list[str], start: int) -> list[_OneHot] | None:
    """Lookups for `SimpleImputer -> OneHotEncoder(handle_unknown="ignore")`, else None."""
    if not isinstance(transformer, Pipeline) or len(transformer.steps) != 2:
        return None
    imputer, encoder = (step for _, step in transformer.steps)
    if not (
        isinstance(imputer, SimpleImputer)
        and isinstance(imputer.missing_values, float)
        and math.isnan(imputer.missing_values)
        and not imputer.add_indicator
        and isinstance(encoder, OneHotEncoder)
        and encoder.handle_unknown == "ignore"
        and encoder.drop is None
        and encoder.min_frequency is None
        and encoder.max_categories is None
        and not encoder.sparse_output
    ):
        return None
    encoded = []
    for column, fill, categories in zip(
        columns, imputer.statistics_, encoder.categories_, strict=True
    ):
        positions = {category: start + index for index, category in enumerate(categories)}
        encoded.append(_OneHot(column, fill, positions))
        start += len(categories)
    return encoded


class GradientBoostingModel(Model):
    """Imputation and one-hot encoding followed by histogram gradient boosting.

    A classifier for the binary and multiclass tasks, a regressor for regression.
    """

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
        estimator = ESTIMATORS[TASK == "regression"](
            learning_rate=settings.learning_rate,
            max_iter=settings.max_iter,
            max_leaf_nodes=settings.max_leaf_nodes,
            early_stopping=False,
            random_state=0,
        )
        self.pipeline = Pipeline([("preprocess", preprocess), ("estimator", estimator)])
        self.encoder: MatrixEncoder | None = None

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
        self.encoder = _fast_encoder(self.pipeline)
        return self

    @property
    def classes(self) -> tuple[Any, ...]:
        final = self.pipeline.steps[-1][1]
        return tuple(getattr(final, "classes_", ()))

    def outputs(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        return self._answer(self.pipeline, features[self.feature_names])

    def outputs_columns(self, columns: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
        if self.encoder is None:
            return super().outputs_columns(columns)
        return self._answer(self.pipeline.steps[-1][1], self.encoder.encode(columns))

    @staticmethod
    def _answer(estimator: Any, inputs: Any) -> npt.NDArray[np.float64]:
        if not hasattr(estimator, "predict_proba"):
            return np.asarray(estimator.predict(inputs), dtype=np.float64)
        probabilities = np.asarray(estimator.predict_proba(inputs), dtype=np.float64)
        return probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities

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
        expected = ESTIMATORS[TASK == "regression"]
        if not isinstance(final, expected):
            raise ModelLoadError(
                f"the stored model is a {shorten(type(final).__name__)}, expected a Pipeline"
                f" ending in {expected.__name__} (what this project trains for its {TASK} task)"
            )
        model = cls.__new__(cls)
        model.pipeline = pipeline
        model.encoder = _fast_encoder(pipeline)
        return model


def _fast_encoder(pipeline: Pipeline) -> MatrixEncoder | None:
    """The encoder feeding the estimator a plain matrix, if the pipeline allows one."""
    if len(pipeline.steps) != 2 or hasattr(pipeline.steps[-1][1], "feature_names_in_"):
        return None  # an estimator fitted on named columns wants a frame
    return MatrixEncoder.of(pipeline.steps[0][1])
