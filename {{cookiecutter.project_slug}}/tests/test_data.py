import pandas as pd

from {{cookiecutter.package_name}} import data
from {{cookiecutter.package_name}}.contracts import RawSchema


def test_clean_normalises_categories_and_fills_total_charges() -> None:
    raw = RawSchema.validate(
        pd.DataFrame(
            {
                "customer_id": ["A", "B"],
                "tenure_months": [10, 3],
                "monthly_charges": [20.0, 30.0],
                "total_charges": [None, 95.0],
                "contract": [" Month to Month", "TWO_YEAR"],
                "payment_method": ["Credit Card", None],
                "internet_service": ["Fiber", "dsl"],
                "support_calls": [0, 2],
            }
        )
    )
    cleaned = data.clean(raw)
    assert cleaned["contract"].tolist() == ["month-to-month", "two-year"]
    assert cleaned["payment_method"].tolist()[0] == "credit-card"
    assert pd.isna(cleaned["payment_method"].tolist()[1])
    assert cleaned["total_charges"].tolist() == [200.0, 95.0]


def test_features_divide_charges_by_tenure(customers: pd.DataFrame) -> None:
    features = data.build_features(data.clean(data.validate_raw(customers)))
    row = features.dropna(subset=["total_charges"]).iloc[0]
    expected = row["total_charges"] / max(row["tenure_months"], 1)
    assert row["charges_per_tenure_month"] == expected


def test_fingerprint_changes_with_content(customers: pd.DataFrame) -> None:
    changed = customers.copy()
    changed.loc[0, "support_calls"] = 99
    assert data.fingerprint(customers) == data.fingerprint(customers.copy())
    assert data.fingerprint(customers) != data.fingerprint(changed)
