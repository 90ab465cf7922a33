"""Cleaning rules and engineered features of the customer table: the module you edit.

This is the one place that knows what the columns mean. `{{ cookiecutter.package_name }} adopt`
resets it to a generic default (text trimmed, no engineered features) for a new table;
write your own rules here. The clean and features contracts, the API, the store and the
monitor follow `CLEAN_CATEGORIES` and `ENGINEERED_FEATURES`; the rules run on one NumPy
array per column, in the batch jobs and in the service alike.
"""

import functools
import re

import numpy as np
import pandera.pandas as pa

from .columns import Columns, map_text

# The values each text column may hold after cleaning (the clean contract's `isin`).
CLEAN_CATEGORIES: dict[str, tuple[str, ...]] = {
    "contract": ("month-to-month", "one-year", "two-year"),
    "payment_method": ("bank-transfer", "credit-card", "electronic-check", "mailed-check"),
    "internet_service": ("dsl", "fiber", "none"),
}
# Features computed from the clean columns, with the contract of their values.
ENGINEERED_FEATURES: dict[str, pa.Column] = {
    "charges_per_tenure_month": pa.Column(float, pa.Check.ge(0), nullable=True),
}
SEPARATORS = re.compile(r"[\s_]+")


def clean_columns(raw: Columns) -> Columns:
    """The cleaned values of the columns that cleaning changes."""
    cleaned = {name: map_text(raw[name], normalise_category) for name in CLEAN_CATEGORIES}
    total = raw["total_charges"]
    derived = raw["monthly_charges"] * raw["tenure_months"]
    cleaned["total_charges"] = np.where(np.isnan(total), derived, total)
    return cleaned


def feature_columns(clean: Columns) -> Columns:
    """The engineered features, computed from clean columns."""
    tenure = np.maximum(clean["tenure_months"], 1).astype(np.float64)
    return {"charges_per_tenure_month": clean["total_charges"] / tenure}


@functools.lru_cache(maxsize=4096)
def normalise_category(text: str) -> str | None:
    """Lower case, words joined by "-" ("Month to month" -> "month-to-month"); "" is missing."""
    return SEPARATORS.sub("-", text.strip().lower()) or None
