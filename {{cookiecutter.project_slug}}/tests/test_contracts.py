import pandas as pd
import pytest
from pandera.errors import SchemaErrors

from {{cookiecutter.package_name}}.contracts import (
    CleanSchema,
    FeaturesSchema,
    PredictionsSchema,
    RawSchema,
    describe_violation,
)
from {{cookiecutter.package_name}}.data import build_features, clean


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
