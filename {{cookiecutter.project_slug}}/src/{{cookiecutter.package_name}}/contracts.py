"""Data contracts: one Pandera schema per workflow step output.

The column definitions here are the single source of truth: the pipeline steps
enforce them and the serving layer derives its request and response models from
them.
"""

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pandera.typing import Series

CONTRACT_TYPES = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("bank-transfer", "credit-card", "electronic-check", "mailed-check")
INTERNET_SERVICES = ("dsl", "fiber", "none")

ID_COLUMN = "customer_id"
# Letters, digits, "_", "." and "-": ids travel through URLs, CSV files and databases.
ENTITY_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
TARGET_COLUMN = "churned"
NUMERIC_FEATURES = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "charges_per_tenure_month",
)
CATEGORICAL_FEATURES = ("contract", "payment_method", "internet_service")
FEATURE_COLUMNS = NUMERIC_FEATURES + CATEGORICAL_FEATURES


class RawSchema(pa.DataFrameModel):
    """Customer records as they arrive: types and ranges, before any cleaning."""

    customer_id: Series[str] = pa.Field(str_matches=ENTITY_ID_PATTERN)
    tenure_months: Series[int] = pa.Field(ge=0, le=1200)
    monthly_charges: Series[float] = pa.Field(ge=0, le=10_000, nullable=True)
    total_charges: Series[float] = pa.Field(ge=0, nullable=True)
    contract: Series[str] = pa.Field(str_length={"min_value": 1})
    payment_method: Series[str] = pa.Field(nullable=True)
    internet_service: Series[str] = pa.Field(nullable=True)
    support_calls: Series[int] = pa.Field(ge=0, le=1000)
    churned: Series[int] | None = pa.Field(isin=[0, 1])

    class Config:
        coerce = True
        strict = "filter"


class CleanSchema(pa.DataFrameModel):
    """Normalised records: known categories, unique ids, charges filled in."""

    customer_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    tenure_months: Series[int] = pa.Field(ge=0)
    monthly_charges: Series[float] = pa.Field(ge=0, nullable=True)
    total_charges: Series[float] = pa.Field(ge=0, nullable=True)
    contract: Series[str] = pa.Field(isin=CONTRACT_TYPES)
    payment_method: Series[str] = pa.Field(isin=PAYMENT_METHODS, nullable=True)
    internet_service: Series[str] = pa.Field(isin=INTERNET_SERVICES, nullable=True)
    support_calls: Series[int] = pa.Field(ge=0)
    churned: Series[int] | None = pa.Field(isin=[0, 1])

    class Config:
        strict = True


class FeaturesSchema(CleanSchema):
    """Model inputs: the clean columns plus engineered features."""

    charges_per_tenure_month: Series[float] = pa.Field(ge=0, nullable=True)


class PredictionsSchema(pa.DataFrameModel):
    """Scored customers, as written by batch prediction and served online."""

    customer_id: Series[str] = pa.Field(str_length={"min_value": 1})
    prediction: Series[int] = pa.Field(isin=[0, 1])
    probability: Series[float] = pa.Field(ge=0, le=1)
    model_version: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True


def describe_violation(error: SchemaErrors, max_rows: int = 10) -> str:
    """Summarise a lazy Pandera validation error: failing checks, then failing rows."""
    cases = error.failure_cases
    name = getattr(error.schema, "name", None) or "contract"
    lines = [f"{name}: {len(cases)} failure(s)"]
    grouped = cases.groupby(["column", "check"], dropna=False, sort=False)["failure_case"]
    for (column, check), failures in grouped:
        sample = ", ".join(repr(value) for value in failures.head(3))
        lines.append(f"  - column {column!r} failed {check!r} ({len(failures)}x), e.g. {sample}")
    data = error.data
    row_index = pd.Index(cases["index"].dropna().unique())
    if isinstance(data, pd.DataFrame) and len(row_index) > 0:
        failing = data.loc[data.index.intersection(row_index)]
        lines.append(f"failing rows ({len(failing)}, first {min(max_rows, len(failing))}):")
        lines.append(failing.head(max_rows).to_string())
    return "\n".join(lines)
