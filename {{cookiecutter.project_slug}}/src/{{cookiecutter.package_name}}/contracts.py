"""Data contracts: the table's raw contract (`dataset.py`) and the contracts derived from it.

One Pandera schema per workflow step output. The raw contract describes the table as
it arrives; cleaning (`features.py`) may narrow text columns to known categories; the
features contract adds the engineered features; the predictions contract follows the
task. The pipeline steps enforce them, and the serving layer, the store and the monitor
derive their columns from them: no other module names a column of the table.
"""

import re
from typing import Any, Final

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from . import features
from .dataset import ID_COLUMN, SAMPLE_URI, TARGET_COLUMN, TASK, RawSchema
from .logs import shorten

__all__ = [
    "CATEGORICAL_FEATURES",
    "CLASSES",
    "FEATURE_COLUMNS",
    "ID_COLUMN",
    "NUMERIC_FEATURES",
    "SAMPLE_URI",
    "TARGET_COLUMN",
    "TASK",
    "clean_contract",
    "features_contract",
    "predictions_contract",
    "raw_contract",
]

# ASCII letters, digits, "_", "." and "-", 1 to 64 of them: ids travel through URLs, CSV
# files and databases. The whole value must match. Pydantic (the API) reads `$` as the end
# of the text; Python's `re` also lets one trailing newline through `$`, so the contracts
# check `ENTITY_ID_FULL_MATCH` with `fullmatch` as well.
ENTITY_ID_CHARACTERS = r"[A-Za-z0-9_.-]{1,64}"
ENTITY_ID_PATTERN = rf"^{ENTITY_ID_CHARACTERS}$"
ENTITY_ID_FULL_MATCH = re.compile(ENTITY_ID_CHARACTERS, re.ASCII)
# Cells of failing rows are cut shorter than other echoes: a row holds many of them.
SHOWN_CELL_LIMIT = 30


class ContractDefinitionError(Exception):
    """`dataset.py` or `features.py` do not fit together (raised at import)."""


def is_entity_id(value: object) -> bool:
    """Whether `value` is a valid entity id (the whole string, ASCII)."""
    return isinstance(value, str) and ENTITY_ID_FULL_MATCH.fullmatch(value) is not None


def _entity_id_full_match(ids: pd.Series) -> pd.Series:
    """The whole id matches (no trailing newline, ASCII only): `is_entity_id`, vectorised."""
    if not pd.api.types.is_string_dtype(ids):
        return ids.map(is_entity_id).astype(bool)
    matched = ids.str.fullmatch(ENTITY_ID_FULL_MATCH)
    return matched.fillna(value=False).astype(bool)


def is_text(column: pa.Column) -> bool:
    """Whether a contract column holds text."""
    return str(column.dtype) in {"str", "string", "object"}


def is_number(column: pa.Column) -> bool:
    """Whether a contract column holds integers or floats."""
    return str(column.dtype).startswith(("int", "float"))


def allowed_values(column: pa.Column) -> tuple[Any, ...] | None:
    """The values an `isin` check of the column allows, or None."""
    for check in column.checks:
        if check.name == "isin":
            return tuple(check.statistics["allowed_values"])
    return None


def _copy(column: pa.Column, **changes: Any) -> pa.Column:
    settings: dict[str, Any] = {
        "dtype": column.dtype,
        "checks": list(column.checks),
        "nullable": column.nullable,
        "unique": column.unique,
        "required": column.required,
        "name": column.name,
    }
    return pa.Column(**(settings | changes))


def _raw() -> pa.DataFrameSchema:
    schema = RawSchema.to_schema()
    if TARGET_COLUMN not in schema.columns:
        raise ContractDefinitionError(f"dataset.py: TARGET_COLUMN {TARGET_COLUMN!r} is no column")
    identity = ID_COLUMN
    if identity is None:
        return schema
    if identity not in schema.columns:
        raise ContractDefinitionError(f"dataset.py: ID_COLUMN {identity!r} is no column")
    column = schema.columns[identity]
    full_match = pa.Check(_entity_id_full_match, name="entity_id_full_match")
    return schema.update_column(identity, checks=[*column.checks, full_match])


def _clean(raw: pa.DataFrameSchema) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    for name, column in raw.columns.items():
        if name == ID_COLUMN:
            columns[name] = pa.Column(str, pa.Check.str_length(min_value=1), unique=True, name=name)
        elif name in features.CLEAN_CATEGORIES:
            allowed = pa.Check.isin(features.CLEAN_CATEGORIES[name])
            columns[name] = _copy(column, checks=[allowed])
        else:
            columns[name] = _copy(column)
    unknown = sorted(set(features.CLEAN_CATEGORIES) - set(columns))
    if unknown:
        raise ContractDefinitionError(f"features.py: CLEAN_CATEGORIES names no column {unknown}")
    return pa.DataFrameSchema(columns, strict=True, name="CleanSchema")


def _features(clean: pa.DataFrameSchema) -> pa.DataFrameSchema:
    clashes = sorted(set(features.ENGINEERED_FEATURES) & set(clean.columns))
    if clashes:
        raise ContractDefinitionError(f"features.py: engineered features {clashes} exist already")
    engineered = {
        name: _copy(column, name=name) for name, column in features.ENGINEERED_FEATURES.items()
    }
    return pa.DataFrameSchema(
        {**clean.columns, **engineered}, strict=True, name="FeaturesSchema"
    )


def _classes(target: pa.Column) -> tuple[Any, ...]:
    if TASK == "regression":
        return ()
    classes = allowed_values(target)
    if classes is None or len(classes) < 2:
        raise ContractDefinitionError(
            f"dataset.py: a {TASK} task needs the target {TARGET_COLUMN!r} to list its"
            " classes (pa.Field(isin=[...]), at least two)"
        )
    if TASK == "binary" and len(classes) != 2:
        raise ContractDefinitionError(
            f"dataset.py: a binary task needs two classes, the target lists {len(classes)}"
        )
    return tuple(sorted(classes))


def _finite(values: pd.Series) -> pd.Series:
    return pd.Series(np.isfinite(values.to_numpy(dtype=np.float64)), index=values.index)


def _predictions(target: pa.Column) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    identity = ID_COLUMN
    if identity is not None:
        columns[identity] = pa.Column(str, pa.Check.str_length(min_value=1))
    if TASK == "regression":
        columns["prediction"] = pa.Column(float, pa.Check(_finite, name="finite"))
    else:
        columns["prediction"] = pa.Column(target.dtype, pa.Check.isin(CLASSES))
        columns["probability"] = pa.Column(float, pa.Check.in_range(0, 1))
    columns["model_version"] = pa.Column(str, pa.Check.str_length(min_value=1))
    return pa.DataFrameSchema(columns, strict=True, name="PredictionsSchema")


raw_contract: Final = _raw()
clean_contract: Final = _clean(raw_contract)
features_contract: Final = _features(clean_contract)
CLASSES: Final = _classes(raw_contract.columns[TARGET_COLUMN])
predictions_contract: Final = _predictions(raw_contract.columns[TARGET_COLUMN])

_inputs = {
    name: column
    for name, column in features_contract.columns.items()
    if name not in {ID_COLUMN, TARGET_COLUMN}
}
NUMERIC_FEATURES: Final = tuple(name for name, column in _inputs.items() if is_number(column))
# Text columns with known categories; other text (free text) is checked but not modelled.
CATEGORICAL_FEATURES: Final = tuple(
    name
    for name, column in _inputs.items()
    if is_text(column) and allowed_values(column) is not None
)
FEATURE_COLUMNS: Final = NUMERIC_FEATURES + CATEGORICAL_FEATURES


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
