"""Data contracts: one Pandera schema per workflow step output.

The column definitions here are the single source of truth: the pipeline steps
enforce them and the serving layer derives its request and response models from
them.
"""

import re

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pandera.typing import Series

from .logs import shorten

CONTRACT_TYPES = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("bank-transfer", "credit-card", "electronic-check", "mailed-check")
INTERNET_SERVICES = ("dsl", "fiber", "none")

ID_COLUMN = "customer_id"
# ASCII letters, digits, "_", "." and "-", 1 to 64 of them: ids travel through URLs, CSV
# files and databases. The whole value must match. Pydantic (the API) reads `$` as the end
# of the text; Python's `re` also lets one trailing newline through `$`, so the contracts
# check `ENTITY_ID_FULL_MATCH` with `fullmatch` as well.
ENTITY_ID_CHARACTERS = r"[A-Za-z0-9_.-]{1,64}"
ENTITY_ID_PATTERN = rf"^{ENTITY_ID_CHARACTERS}$"
ENTITY_ID_FULL_MATCH = re.compile(ENTITY_ID_CHARACTERS, re.ASCII)
TARGET_COLUMN = "churned"
# Cells of failing rows are cut shorter than other echoes: a row holds many of them.
SHOWN_CELL_LIMIT = 30
NUMERIC_FEATURES = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "charges_per_tenure_month",
)
CATEGORICAL_FEATURES = ("contract", "payment_method", "internet_service")
FEATURE_COLUMNS = NUMERIC_FEATURES + CATEGORICAL_FEATURES


def is_entity_id(value: object) -> bool:
    """Whether `value` is a valid entity id (the whole string, ASCII)."""
    return isinstance(value, str) and ENTITY_ID_FULL_MATCH.fullmatch(value) is not None


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

    @pa.check(ID_COLUMN, name="entity_id_full_match")
    @classmethod
    def entity_id_full_match(cls, ids: pd.Series) -> pd.Series:
        """The whole id matches (no trailing newline, ASCII only): `is_entity_id`, vectorised."""
        if not pd.api.types.is_string_dtype(ids):
            return ids.map(is_entity_id).astype(bool)
        matched = ids.str.fullmatch(ENTITY_ID_FULL_MATCH)
        return matched.fillna(value=False).astype(bool)

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
    """Summarise a lazy Pandera validation error: failing checks, then failing rows.

    Every value is echoed through `logs.shorten`, so one huge field cannot flood the output.
    """
    cases = error.failure_cases
    name = getattr(error.schema, "name", None) or "contract"
    lines = [f"{name}: {len(cases)} failure(s)"]
    grouped = cases.groupby(["column", "check"], dropna=False, sort=False)["failure_case"]
    for (column, check), failures in grouped:
        sample = ", ".join(shorten(repr(value)) for value in failures.head(3))
        lines.append(
            f"  - column {shorten(repr(column))} failed {shorten(repr(check))}"
            f" ({len(failures)}x), e.g. {sample}"
        )
    data = error.data
    row_index = pd.Index(cases["index"].dropna().unique())
    if isinstance(data, pd.DataFrame) and len(row_index) > 0:
        failing = data.loc[data.index.intersection(row_index)]
        lines.append(f"failing rows ({len(failing)}, first {min(max_rows, len(failing))}):")
        shown = failing.head(max_rows).map(lambda value: shorten(value, SHOWN_CELL_LIMIT))
        shown.columns = [shorten(str(column), SHOWN_CELL_LIMIT) for column in shown.columns]
        lines.append(shown.to_string())
    return "\n".join(lines)
