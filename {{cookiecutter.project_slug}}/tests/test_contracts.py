import re
from typing import Annotated

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors
from pydantic import Field, TypeAdapter, ValidationError

from {{cookiecutter.package_name}}.contracts import (
    ENTITY_ID_PATTERN,
    CleanSchema,
    FeaturesSchema,
    PredictionsSchema,
    RawSchema,
    describe_violation,
)
from {{cookiecutter.package_name}}.data import build_features, clean
from {{cookiecutter.package_name}}.datagen import generate_customers


def test_generated_customers_satisfy_every_contract(customers: pd.DataFrame) -> None:
    raw = RawSchema.validate(customers, lazy=True)
    cleaned = CleanSchema.validate(clean(raw), lazy=True)
    FeaturesSchema.validate(build_features(cleaned), lazy=True)


def test_raw_contract_reports_every_failing_check_and_row(customers: pd.DataFrame) -> None:
    broken = customers.copy()
    broken.loc[3, "tenure_months"] = -5
    broken.loc[8, "support_calls"] = -1
    with pytest.raises(SchemaErrors) as caught:
        RawSchema.validate(broken, lazy=True)
    report = describe_violation(caught.value)
    assert "'tenure_months'" in report
    assert "'support_calls'" in report
    assert "greater_than_or_equal_to(0)" in report
    assert str(customers.at[3, "customer_id"]) in report
    assert str(customers.at[8, "customer_id"]) in report
    assert str(customers.at[4, "customer_id"]) not in report


def test_raw_contract_requires_columns(customers: pd.DataFrame) -> None:
    with pytest.raises(SchemaErrors, match="contract"):
        RawSchema.validate(customers.drop(columns=["contract"]), lazy=True)


def test_clean_contract_rejects_unknown_categories(customers: pd.DataFrame) -> None:
    broken = customers.copy()
    broken.loc[0, "contract"] = "weekly"
    with pytest.raises(SchemaErrors) as caught:
        clean(broken)
    assert "weekly" in describe_violation(caught.value)


def test_clean_keeps_the_last_record_per_customer(customers: pd.DataFrame) -> None:
    duplicated = pd.concat([customers, customers.head(2)], ignore_index=True)
    assert clean(RawSchema.validate(duplicated)).customer_id.is_unique


def test_predictions_contract_bounds_probability() -> None:
    predictions = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "prediction": [0, 1],
            "probability": [0.2, 1.7],
            "model_version": ["v1", "v1"],
        }
    )
    with pytest.raises(SchemaErrors) as caught:
        PredictionsSchema.validate(predictions, lazy=True)
    assert "1.7" in describe_violation(caught.value)


def is_valid_id(value: str) -> bool:
    """The rule, spelled out: 1 to 64 ASCII letters, digits, "_", "." or "-"."""
    allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
    return 1 <= len(value) <= 64 and all(character in allowed for character in value)


API_ID = TypeAdapter(Annotated[str, Field(pattern=ENTITY_ID_PATTERN)])
ids = st.one_of(
    st.text(max_size=70),
    st.from_regex(re.compile(r"[A-Za-z0-9_.-]{1,64}"), fullmatch=True).map(
        lambda value: value + "\n"
    ),
    st.from_regex(re.compile(r"[A-Za-z0-9_.-]{60,70}"), fullmatch=True),
)


ONE_CUSTOMER = generate_customers(1, seed=3)


@settings(deadline=None)
@given(candidate=ids)
def test_contract_and_api_accept_exactly_the_valid_ids(candidate: str) -> None:
    frame = ONE_CUSTOMER.assign(customer_id=[candidate])
    try:
        RawSchema.validate(frame, lazy=True)
        contract_accepts = True
    except SchemaErrors:
        contract_accepts = False
    try:
        API_ID.validate_python(candidate)
        api_accepts = True
    except ValidationError:
        api_accepts = False
    assert contract_accepts == api_accepts == is_valid_id(candidate)


@pytest.mark.parametrize("candidate", ["C1\n", "é1", "C" * 65, "C1 ", "١٢٣"])
def test_ids_with_a_trailing_newline_or_beyond_ascii_are_refused(
    customers: pd.DataFrame, candidate: str
) -> None:
    with pytest.raises(SchemaErrors, match="customer_id"):
        RawSchema.validate(customers.head(2).assign(customer_id=[candidate, "C2"]), lazy=True)


def test_violation_report_cuts_huge_values(customers: pd.DataFrame) -> None:
    broken = customers.head(3).copy()
    broken.loc[1, "contract"] = "x" * 1_000_000
    with pytest.raises(SchemaErrors) as caught:
        clean(RawSchema.validate(broken))
    report = describe_violation(caught.value)
    assert "1000000 characters" in report
    assert len(report) < 3_000
