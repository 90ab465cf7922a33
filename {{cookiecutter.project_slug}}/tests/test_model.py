"""The model's fast path for a few records gives the sklearn pipeline's probabilities."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from {{cookiecutter.package_name}} import data
from {{cookiecutter.package_name}}.contracts import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    ID_COLUMN,
    NUMERIC_FEATURES,
    TARGET_COLUMN,
)
from {{cookiecutter.package_name}}.model import GradientBoostingModel, MatrixEncoder
from {{cookiecutter.package_name}}.settings import ModelSettings
from tests.conftest import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "data" / "sample" / "customers.csv"


@pytest.fixture(scope="module")
def sample_features() -> pd.DataFrame:
    """The shipped sample through the batch job's steps."""
    return data.build_features(data.clean(data.validate_raw(pd.read_csv(SAMPLE))))


@pytest.fixture(scope="module")
def model(sample_features: pd.DataFrame) -> GradientBoostingModel:
    features, target = data.split_target(sample_features)
    fitted = GradientBoostingModel(ModelSettings(max_iter=60)).fit(features, target)
    return GradientBoostingModel.load(fitted.save())  # as the service gets it


def test_the_served_model_has_the_fast_path(model: GradientBoostingModel) -> None:
    assert isinstance(model.encoder, MatrixEncoder)


def test_fast_path_equals_the_pipeline_on_the_sample(
    model: GradientBoostingModel, sample_features: pd.DataFrame
) -> None:
    reference = model.predict_proba(sample_features)
    fast = model.predict_proba_columns(data.columns_of(sample_features))
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9)
    for row in range(0, len(sample_features), 97):  # one record at a time, as served
        one = data.columns_of(sample_features.iloc[[row]])
        assert model.predict_proba_columns(one)[0] == pytest.approx(reference[row], abs=1e-9)


known = {
    "contract": ["month-to-month", "one-year", "two-year"],
    "payment_method": ["bank-transfer", "credit-card", "electronic-check", "mailed-check"],
    "internet_service": ["dsl", "fiber", "none"],
}
edge_numbers = st.one_of(
    st.none(),
    st.sampled_from([0.0, 1.0, -1.0, 1e-300, 1e300, -1e300, math.inf, -math.inf]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def category(column: str) -> st.SearchStrategy[str | None]:
    """Known categories, unknown ones, the imputer's own fill value, and missing values."""
    return st.one_of(
        st.sampled_from(known[column]), st.text(max_size=12), st.just("missing"), st.none()
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
    reference = model.predict_proba(frame)
    columns = {
        name: np.array(
            [row[name] for row in rows], dtype=float if name in NUMERIC_FEATURES else object
        )
        for name in FEATURE_COLUMNS
    }
    fast = model.predict_proba_columns(columns)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9)


def test_preprocessing_of_another_shape_is_left_to_sklearn(
    model: GradientBoostingModel, sample_features: pd.DataFrame
) -> None:
    other = copy.deepcopy(model)
    preprocess = other.pipeline.steps[0][1]
    preprocess.named_transformers_["categorical"].steps[-1][1].set_params(handle_unknown="error")
    assert MatrixEncoder.of(preprocess) is None
    other.encoder = None
    head = sample_features.head(20)
    np.testing.assert_array_equal(
        other.predict_proba_columns(data.columns_of(head)), other.predict_proba(head)
    )


def test_online_cleaning_and_features_equal_the_batch_steps(sample_features: pd.DataFrame) -> None:
    raw = data.validate_raw(pd.read_csv(SAMPLE)).drop(columns=[TARGET_COLUMN])
    records = [
        {str(key): None if pd.isna(value) else value for key, value in record.items()}
        for record in raw.to_dict("records")
    ]
    columns = data.columns_from_records(records, list(raw.columns))
    columns |= data.clean_columns(columns)
    columns |= data.feature_columns(columns)
    online = pd.DataFrame(columns)
    batch = sample_features.drop(columns=[TARGET_COLUMN])
    pd.testing.assert_frame_equal(online[list(batch.columns)], batch, check_dtype=False)
    assert online[ID_COLUMN].tolist() == batch[ID_COLUMN].tolist()
