"""The generic `features.py` and its tests, which `adopt` writes for a new table.

Kept as text because they replace the project's own files: the churn sample's rules
live in `features.py` until a table of your own is adopted.
"""

FEATURES_SOURCE = '''"""Cleaning rules and engineered features of your table: the module you edit.

`{{ cookiecutter.package_name }} adopt` wrote this generic default: text trimmed (empty
text is missing), numbers as they are, no engineered features. Write your own rules
here: the clean and features contracts, the API, the store and the monitor follow
`CLEAN_CATEGORIES` and `ENGINEERED_FEATURES`. The rules run on one NumPy array per
column, in the batch jobs and in the service alike.
"""

import pandera.pandas as pa

from .columns import Columns, is_text_type, map_text, trimmed
from .dataset import ID_COLUMN, TARGET_COLUMN, RawSchema

# The values each text column may hold after cleaning (the clean contract's `isin`).
CLEAN_CATEGORIES: dict[str, tuple[str, ...]] = {}
# Features computed from the clean columns, with the contract of their values.
ENGINEERED_FEATURES: dict[str, pa.Column] = {}
# The text columns cleaning trims: all but the id and the target.
TEXT_COLUMNS = tuple(
    name
    for name, column in RawSchema.to_schema().columns.items()
    if is_text_type(column.dtype) and name not in {ID_COLUMN, TARGET_COLUMN}
)


def clean_columns(raw: Columns) -> Columns:
    """The cleaned values of the columns that cleaning changes: text trimmed."""
    return {name: map_text(raw[name], trimmed) for name in TEXT_COLUMNS}


def feature_columns(clean: Columns) -> Columns:
    """The engineered features, computed from clean columns (none yet)."""
    return {}
'''

FEATURES_TESTS_SOURCE = '''"""Tests of `features.py`, written from the contract: add your own."""

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import data, datagen
from {{ cookiecutter.package_name }}.contracts import FEATURE_COLUMNS
from {{ cookiecutter.package_name }}.features import (
    ENGINEERED_FEATURES,
    TEXT_COLUMNS,
    clean_columns,
    feature_columns,
)


def test_text_is_trimmed_and_empty_text_is_missing() -> None:
    if not TEXT_COLUMNS:
        pytest.skip("the table has no text columns")
    raw = {name: np.array([" a ", "", None, "b"], dtype=object) for name in TEXT_COLUMNS}
    cleaned = clean_columns(raw)
    for name in TEXT_COLUMNS:
        assert cleaned[name].tolist() == ["a", None, None, "b"]


def test_engineered_features_are_the_declared_ones() -> None:
    rows = datagen.generate(50, seed=3)
    columns = data.columns_of(data.apply_cleaning(data.validate_raw(rows)))
    assert set(feature_columns(columns)) == set(ENGINEERED_FEATURES)


def test_generated_rows_become_model_features() -> None:
    rows = datagen.generate(200, seed=3)
    features = data.build_features(data.clean(data.validate_raw(rows)))
    assert len(features) == 200
    assert set(FEATURE_COLUMNS) <= set(features.columns)
'''
