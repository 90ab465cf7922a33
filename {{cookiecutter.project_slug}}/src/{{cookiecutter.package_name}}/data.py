"""Workflow steps on data: load (raw contract), clean (clean contract), features."""

import csv
import functools
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow

from . import io
from .contracts import (
    CATEGORICAL_FEATURES,
    ID_COLUMN,
    TARGET_COLUMN,
    CleanSchema,
    FeaturesSchema,
    RawSchema,
)
from .decorators import log_call, log_time
from .logs import shorten

# What pandas and pyarrow raise for bytes that are not a CSV or Parquet table they can read.
UNREADABLE = (
    UnicodeDecodeError,
    pd.errors.ParserError,
    csv.Error,
    ValueError,
    OverflowError,
    arrow.ArrowException,
)


class DataError(Exception):
    """An input dataset cannot be used: missing, empty, not UTF-8 CSV or Parquet, too small."""


def unreadable(uri: str, error: Exception) -> Exception:
    """The one-line error for a dataset that could not be read (storage errors pass)."""
    if isinstance(error, io.StorageError) or io.is_storage_failure(error):
        return error if isinstance(error, io.StorageError) else io.storage_error(uri, error)
    if isinstance(error, FileNotFoundError):
        return DataError(f"{uri}: no such file")
    kind = "Parquet" if io.is_parquet(uri) else "CSV"
    if isinstance(error, IsADirectoryError):
        return DataError(f"{uri}: is a folder, not a {kind} file")
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if kind == "Parquet":
        return DataError(f"{uri}: not a readable Parquet file ({shorten(reason)})")
    if isinstance(error, pd.errors.EmptyDataError):
        return DataError(f"{uri}: empty file (expected a CSV header line)")
    if isinstance(error, UnicodeDecodeError):
        return DataError(
            f"{uri}: not UTF-8 text (byte {error.start}: {error.reason}); "
            "save the file as UTF-8 CSV"
        )
    return DataError(f"{uri}: not a readable CSV file ({shorten(reason)})")


raw_contract = RawSchema.to_schema()
clean_contract = CleanSchema.to_schema()
features_contract = FeaturesSchema.to_schema()


def _array_dtype(column: pa.Column) -> type[np.generic] | type[object]:
    """The NumPy type of a column's values: integers and floats as such, else objects."""
    kind = str(column.dtype)
    if kind.startswith("int") and not column.nullable:
        return np.int64
    if kind.startswith(("int", "float")):
        return np.float64  # None becomes NaN
    return object


# The contracts' columns as arrays (the features contract holds every column of the others).
ARRAY_DTYPES = {name: _array_dtype(column) for name, column in features_contract.columns.items()}


@pa.check_output(raw_contract, lazy=True)
def validate_raw(frame: pd.DataFrame) -> pd.DataFrame:
    """Check a frame of incoming records against the raw contract (and coerce types)."""
    return frame


@log_time
@log_call
def load_raw(uri: str) -> pd.DataFrame:
    """Read a whole CSV or Parquet dataset and enforce the raw contract.

    DataError if it cannot be read.
    """
    try:
        frame = io.read_table(uri)
    except (OSError, io.StorageError, pd.errors.EmptyDataError, *UNREADABLE) as error:
        raise unreadable(uri, error) from None
    return validate_raw(frame)


def stream_raw(uri: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Read a CSV or Parquet dataset chunk by chunk, each checked against the raw contract."""
    chunks = io.iter_table(uri, chunk_rows)
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except (OSError, io.StorageError, pd.errors.EmptyDataError, *UNREADABLE) as error:
            raise unreadable(uri, error) from None
        yield validate_raw(chunk)


@log_time
@log_call
@pa.check_output(clean_contract, lazy=True)
def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Normalise categories, drop duplicate customers (first wins), fill derivable charges."""
    return apply_cleaning(raw.drop_duplicates(subset=ID_COLUMN, keep="first"))


def apply_cleaning(raw: pd.DataFrame) -> pd.DataFrame:
    """Clean each row (categories, charges) without contract check, logging or de-duplication.

    The frame form of `clean_columns`, which the service calls on the records its
    request models already validated field by field.
    """
    return with_columns(raw, clean_columns(columns_of(raw))).reset_index(drop=True)


@log_time
@log_call
@pa.check_output(features_contract, lazy=True)
def build_features(clean_frame: pd.DataFrame) -> pd.DataFrame:
    """Add engineered features used by the model."""
    return add_features(clean_frame)


def add_features(clean_frame: pd.DataFrame) -> pd.DataFrame:
    """The feature transformation alone, without contract check or logging."""
    return with_columns(clean_frame, feature_columns(columns_of(clean_frame)))


# The rules of cleaning and feature engineering, written once, on columns: one NumPy
# array per column. Batch frames and the service's few records both go through them;
# a request's records become arrays far faster than they become a DataFrame.
Columns = dict[str, npt.NDArray[Any]]
SEPARATORS = re.compile(r"[\s_]+")


def clean_columns(raw: Columns) -> Columns:
    """The cleaned values of the columns that cleaning changes."""
    cleaned = {name: map_text(raw[name], normalise_category) for name in CATEGORICAL_FEATURES}
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


def map_text(values: npt.NDArray[Any], rule: Callable[[str], object]) -> npt.NDArray[Any]:
    """`rule` applied to each distinct text value once; missing values stay missing (None)."""
    codes, distinct = pd.factorize(values)
    mapped = np.array([*(rule(str(value)) for value in distinct), None], dtype=object)
    return mapped[codes]  # code -1 (missing) takes the final None


def columns_of(frame: pd.DataFrame) -> Columns:
    """A frame's columns as NumPy arrays (missing text as NaN, as pandas holds it)."""
    return {str(name): frame[name].to_numpy() for name in frame.columns}


def with_columns(frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    """`frame` with `columns` set; arrays of text become text columns, even empty ones."""
    return frame.assign(
        **{
            name: pd.array(values, dtype="str") if values.dtype == object else values
            for name, values in columns.items()
        }
    )


def columns_from_records(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> Columns:
    """Records as arrays, typed as the contracts type each column (None is missing)."""
    return {
        name: np.array([record[name] for record in records], dtype=ARRAY_DTYPES.get(name, object))
        for name in names
    }


def split_target(features: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Separate the label from the features; DataError if the data carries no label."""
    if TARGET_COLUMN not in features.columns:
        raise DataError(f"training data has no {TARGET_COLUMN!r} column (the label)")
    return features.drop(columns=[TARGET_COLUMN]), features[TARGET_COLUMN]


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a frame (order-sensitive), recorded with each model version."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return hashlib.sha256(hashed.tobytes()).hexdigest()
