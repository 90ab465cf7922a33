"""Workflow steps on data: load (raw contract), clean (clean contract), features."""

import csv
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow

from . import io
from .columns import Columns
from .contracts import (
    ID_COLUMN,
    TARGET_COLUMN,
    clean_contract,
    features_contract,
    is_integer,
    is_number,
    is_text,
    raw_contract,
)
from .decorators import log_call, log_time
from .features import clean_columns, feature_columns
from .logs import shorten

# Raw text columns: CSV readers take them as text, so ids such as "007" keep their zeros.
TEXT_COLUMNS = tuple(name for name, column in raw_contract.columns.items() if is_text(column))
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


def _array_dtype(column: pa.Column) -> type[np.generic] | type[object]:
    """The NumPy type of a column's values: integers and floats as such, else objects."""
    if is_integer(column) and not column.nullable:
        return np.int64
    if is_number(column):
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
        frame = io.read_table(uri, text=TEXT_COLUMNS)
    except (OSError, io.StorageError, pd.errors.EmptyDataError, *UNREADABLE) as error:
        raise unreadable(uri, error) from None
    return validate_raw(frame)


def stream_raw(uri: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Read a CSV or Parquet dataset chunk by chunk, each checked against the raw contract."""
    for chunk in read_chunks(uri, chunk_rows):
        yield validate_raw(chunk)


def read_chunks(uri: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Read a CSV or Parquet dataset chunk by chunk, as read (DataError if unreadable)."""
    chunks = io.iter_table(uri, chunk_rows, text=TEXT_COLUMNS)
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except (OSError, io.StorageError, pd.errors.EmptyDataError, *UNREADABLE) as error:
            raise unreadable(uri, error) from None
        yield chunk


@log_time
@log_call
@pa.check_output(clean_contract, lazy=True)
def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Drop duplicate entities (first wins), then apply the cleaning rules of `features.py`."""
    if ID_COLUMN is not None:
        raw = raw.drop_duplicates(subset=ID_COLUMN, keep="first")
    return apply_cleaning(raw)


def apply_cleaning(raw: pd.DataFrame) -> pd.DataFrame:
    """Clean each row without contract check, logging or de-duplication.

    The frame form of `clean_columns`, which the service calls on the records its
    request models already validated field by field.
    """
    return with_columns(raw, clean_columns(columns_of(raw))).reset_index(drop=True)


@log_time
@log_call
@pa.check_output(features_contract, lazy=True)
def build_features(clean_frame: pd.DataFrame) -> pd.DataFrame:
    """Add the engineered features of `features.py`."""
    return add_features(clean_frame)


def add_features(clean_frame: pd.DataFrame) -> pd.DataFrame:
    """The feature transformation alone, without contract check or logging."""
    return with_columns(clean_frame, feature_columns(columns_of(clean_frame)))


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
