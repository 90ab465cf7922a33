"""The model per task, and its fast path for a few records against the sklearn pipeline."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.pipeline import Pipeline

from {{cookiecutter.package_name}} import data
from {{cookiecutter.package_name}}.contracts import (
    CATEGORICAL_FEATURES,
    CLASSES,
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
    SAMPLE_URI,
    TARGET_COLUMN,
    TASK,
    allowed_values,
    features_contract,
)
from {{cookiecutter.package_name}}.datagen import generate
from {{cookiecutter.package_name}}.features import clean_columns, feature_columns
from {{cookiecutter.package_name}}.model import (
    ESTIMATORS,
    GradientBoostingModel,
    MatrixEncoder,
    ModelLoadError,
)
from {{cookiecutter.package_name}}.settings import ModelSettings
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def sample_features() -> pd.DataFrame:
    """The shipped sample through the batch job's steps."""
    raw = pd.read_csv(PROJECT_ROOT / SAMPLE_URI)
    return data.build_features(data.clean(data.validate_raw(raw)))


@pytest.fixture(scope="module")
def model() -> GradientBoostingModel:
    table = generate(600, seed=5)
    features, target = data.split_target(data.build_features(data.clean(data.validate_raw(table))))
    fitted = GradientBoostingModel(ModelSettings(max_iter=60)).fit(features, target)
    return GradientBoostingModel.load(fitted.save())  # as the service gets it


def test_the_model_answers_as_the_task_says(
    model: GradientBoostingModel, sample_features: pd.DataFrame
) -> None:
    outputs = model.outputs(sample_features)
    scores = model.score(sample_features, threshold=0.5)
    assert model.classes == CLASSES
    assert len(scores.prediction) == len(sample_features)
    if TASK == "regression":
        assert outputs.ndim == 1
        assert scores.probability is None
        assert np.isfinite(scores.prediction.astype(float)).all()
        return
    assert scores.probability is not None
    assert set(scores.prediction.tolist()) <= set(CLASSES)
    assert ((scores.probability >= 0) & (scores.probability <= 1)).all()
    if TASK == "binary":  # P(positive class), the positive class from the threshold on
        assert outputs.ndim == 1
        np.testing.assert_array_equal(scores.probability, outputs)
        strict = model.score(sample_features, threshold=0.9)
        assert (strict.prediction == CLASSES[1]).sum() <= (scores.prediction == CLASSES[1]).sum()
        np.testing.assert_array_equal(strict.prediction == CLASSES[1], outputs >= 0.9)
    else:  # the most probable class and its probability
        assert outputs.shape == (len(sample_features), len(CLASSES))
        np.testing.assert_array_equal(scores.probability, outputs.max(axis=1))
        np.testing.assert_array_equal(
            scores.prediction, np.asarray(CLASSES)[outputs.argmax(axis=1)]
        )


def test_a_stored_estimator_of_the_other_kind_is_refused() -> None:
    other = ESTIMATORS[TASK != "regression"]
    payload = sio.dumps(Pipeline([("estimator", other())]))
    with pytest.raises(ModelLoadError, match=rf"is a {other.__name__}.*for its {TASK} task"):
        GradientBoostingModel.load(payload)


def test_the_served_model_has_the_fast_path(model: GradientBoostingModel) -> None:
    assert isinstance(model.encoder, MatrixEncoder)


def test_fast_path_equals_the_pipeline_on_the_sample(
    model: GradientBoostingModel, sample_features: pd.DataFrame
) -> None:
    reference = model.outputs(sample_features)
    fast = model.outputs_columns(data.columns_of(sample_features))
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9)
    for row in range(0, len(sample_features), 97):  # one record at a time, as served
        one = data.columns_of(sample_features.iloc[[row]])
        np.testing.assert_allclose(model.outputs_columns(one)[0], reference[row], atol=1e-9)


edge_numbers = st.one_of(
    st.none(),
    st.sampled_from([0.0, 1.0, -1.0, 1e-300, 1e300, -1e300, math.inf, -math.inf]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def category(column: str) -> st.SearchStrategy[str | None]:
    """Known categories, unknown ones, the imputer's own fill value, and missing values."""
    known = [str(value) for value in allowed_values(features_contract.columns[column]) or ()]
    return st.one_of(
        st.sampled_from(known or ["a"]), st.text(max_size=12), st.just("missing"), st.none()
    )


records = st.fixed_dictionaries(
    {
        **dict.fromkeys(NUMERIC_FEATURES, edge_numbers),
        **{name: category(name) for name in CATEGORICAL_FEATURES},
    }
)


@given(rows=st.lists(records, min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_fast_path_equals_the_pipeline_on_any_records(
    model: GradientBoostingModel, rows: list[dict[str, object]]
) -> None:
    frame = pd.DataFrame(rows, columns=list(FEATURE_COLUMNS))
    frame[list(NUMERIC_FEATURES)] = frame[list(NUMERIC_FEATURES)].astype(float)
    frame[list(CATEGORICAL_FEATURES)] = frame[list(CATEGORICAL_FEATURES)].astype("str")
    reference = model.outputs(frame)
    columns = {
        name: np.array(
            [row[name] for row in rows], dtype=float if name in NUMERIC_FEATURES else object
        )
        for name in FEATURE_COLUMNS
    }
    fast = model.outputs_columns(columns)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9)


@pytest.mark.skipif(not CATEGORICAL_FEATURES, reason="no categorical features to encode")
def test_preprocessing_of_another_shape_is_left_to_sklearn(
    model: GradientBoostingModel, sample_features: pd.DataFrame
) -> None:
    other = copy.deepcopy(model)
    preprocess = other.pipeline.steps[0][1]
    preprocess.named_transformers_["categorical"].steps[-1][1].set_params(handle_unknown="error")
    assert MatrixEncoder.of(preprocess) is None
    other.encoder = None
    head = sample_features.head(20)
    np.testing.assert_array_equal(other.outputs_columns(data.columns_of(head)), other.outputs(head))


def test_online_cleaning_and_features_equal_the_batch_steps(sample_features: pd.DataFrame) -> None:
    raw = data.validate_raw(pd.read_csv(PROJECT_ROOT / SAMPLE_URI)).drop(columns=[TARGET_COLUMN])
    records = [
        {str(key): None if pd.isna(value) else value for key, value in record.items()}
        for record in raw.to_dict("records")
    ]
    columns = data.columns_from_records(records, list(raw.columns))
    columns |= clean_columns(columns)
    columns |= feature_columns(columns)
    online = pd.DataFrame(columns)
    batch = sample_features.drop(columns=[TARGET_COLUMN])
    pd.testing.assert_frame_equal(online[list(batch.columns)], batch, check_dtype=False)
