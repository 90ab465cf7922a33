from pathlib import Path

import pandas as pd
import pytest

from {{cookiecutter.package_name}} import data, io
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


@pytest.mark.parametrize(
    "content", [b"", b"customer_id,tenure_months\nC1,1\n", b"PAR1" + bytes(range(256)) + b"PAR1"]
)
def test_an_unreadable_parquet_file_is_a_data_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "customers.parquet"
    path.write_bytes(content)
    with pytest.raises(data.DataError, match=r"customers\.parquet: not a readable Parquet file"):
        data.load_raw(str(path))
    with pytest.raises(data.DataError, match="not a readable Parquet file"):
        list(data.stream_raw(str(path), chunk_rows=10))


def test_parquet_and_csv_give_the_same_records(tmp_path: Path, customers: pd.DataFrame) -> None:
    io.write_table(str(tmp_path / "customers.parquet"), customers)
    io.write_table(str(tmp_path / "customers.csv"), customers)
    from_parquet = data.load_raw(str(tmp_path / "customers.parquet"))
    from_csv = data.load_raw(str(tmp_path / "customers.csv"))
    pd.testing.assert_frame_equal(from_parquet, from_csv)
    chunks = list(data.stream_raw(str(tmp_path / "customers.parquet"), chunk_rows=150))
    assert [len(chunk) for chunk in chunks] == [150, 150, 100]
