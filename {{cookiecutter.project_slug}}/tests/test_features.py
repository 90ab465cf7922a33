"""Tests of the customer table's own cleaning rules and features (`features.py`).

The only test file that names the table's columns: `adopt` replaces it with the tests
of the generic default, together with `features.py`.
"""

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandera.errors import SchemaErrors

from {{cookiecutter.package_name}} import data, features
from {{cookiecutter.package_name}}.contracts import SAMPLE_URI, describe_violation
from {{cookiecutter.package_name}}.datagen import generate


def raw_customers(**columns: list[object]) -> pd.DataFrame:
    """Two customers through the raw contract; `columns` replace the defaults."""
    defaults: dict[str, list[object]] = {
        "customer_id": ["A", "B"],
        "tenure_months": [10, 3],
        "monthly_charges": [20.0, 30.0],
        "total_charges": [150.0, 95.0],
        "contract": ["month-to-month", "two-year"],
        "payment_method": ["credit-card", "mailed-check"],
        "internet_service": ["fiber", "dsl"],
        "support_calls": [0, 2],
    }
    return data.validate_raw(pd.DataFrame(defaults | columns))


def test_clean_normalises_categories_and_fills_total_charges() -> None:
    raw = raw_customers(
        total_charges=[None, 95.0],
        contract=[" Month to Month", "TWO_YEAR"],
        payment_method=["Credit Card", None],
        internet_service=["Fiber", "dsl"],
    )
    cleaned = data.clean(raw)
    assert cleaned["contract"].tolist() == ["month-to-month", "two-year"]
    assert cleaned["payment_method"].tolist()[0] == "credit-card"
    assert pd.isna(cleaned["payment_method"].tolist()[1])
    assert cleaned["internet_service"].tolist() == ["fiber", "dsl"]
    assert cleaned["total_charges"].tolist() == [200.0, 95.0]


def test_total_charges_stay_missing_without_monthly_charges() -> None:
    cleaned = data.clean(raw_customers(total_charges=[None, 95.0], monthly_charges=[None, 30.0]))
    assert np.isnan(cleaned["total_charges"].iloc[0])
    assert cleaned["total_charges"].iloc[1] == 95.0


def test_features_divide_charges_by_tenure() -> None:
    frame = data.build_features(data.clean(data.validate_raw(generate(200, seed=5))))
    known = frame.dropna(subset=["total_charges"])
    expected = known["total_charges"] / known["tenure_months"].clip(lower=1)
    assert known["charges_per_tenure_month"].tolist() == pytest.approx(expected.tolist())
    new = data.build_features(data.clean(raw_customers(tenure_months=[0, 4])))
    assert new["charges_per_tenure_month"].tolist() == [150.0, 95.0 / 4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Month to month", "month-to-month"),
        ("  ONE_YEAR ", "one-year"),
        ("bank  transfer", "bank-transfer"),
        ("fiber", "fiber"),
        ("   ", None),
    ],
)
def test_categories_are_normalised(text: str, expected: str | None) -> None:
    assert features.normalise_category(text) == expected


@given(st.text(max_size=30))
def test_normalised_categories_are_lower_case_words_joined_by_dashes(text: str) -> None:
    normal = features.normalise_category(text)
    if normal is None:
        assert not text.strip()
        return
    assert normal == normal.lower()
    assert re.search(r"[\s_]", normal) is None
    assert features.normalise_category(normal) == normal


def test_an_unknown_contract_type_is_refused_after_cleaning() -> None:
    raw = raw_customers(contract=["Weekly", "two-year"])
    with pytest.raises(SchemaErrors) as caught:
        data.clean(raw)
    report = describe_violation(caught.value)
    assert "'contract'" in report
    assert "weekly" in report


def test_the_sample_cleans_into_the_known_categories() -> None:
    cleaned = data.clean(data.load_raw(SAMPLE_URI))
    for name, allowed in features.CLEAN_CATEGORIES.items():
        assert set(cleaned[name].dropna()) <= set(allowed)
    charged = cleaned["monthly_charges"].notna()
    assert cleaned.loc[charged, "total_charges"].notna().all()
