"""Workflow steps on data: load (raw contract), clean (clean contract), features."""

import csv
import hashlib
from collections.abc import Iterator

import numpy as np
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

    The service calls it on records its request models already validated field by field.
    """
    frame = raw.copy()
    for column in CATEGORICAL_FEATURES:
        normalised = frame[column].str.strip().str.lower().str.replace(r"[\s_]+", "-", regex=True)
        frame[column] = normalised.replace("", None)
    missing_total = frame["total_charges"].isna()
    frame.loc[missing_total, "total_charges"] = (
        frame.loc[missing_total, "monthly_charges"] * frame.loc[missing_total, "tenure_months"]
    )
    return frame.reset_index(drop=True)


@log_time
@log_call
@pa.check_output(features_contract, lazy=True)
def build_features(clean_frame: pd.DataFrame) -> pd.DataFrame:
    """Add engineered features used by the model."""
    return add_features(clean_frame)


def add_features(clean_frame: pd.DataFrame) -> pd.DataFrame:
    """The feature transformation alone, without contract check or logging."""
    tenure = clean_frame["tenure_months"].clip(lower=1).astype(float)
    return clean_frame.assign(charges_per_tenure_month=clean_frame["total_charges"] / tenure)


def split_target(features: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Separate the label from the features; DataError if the data carries no label."""
    if TARGET_COLUMN not in features.columns:
        raise DataError(f"training data has no {TARGET_COLUMN!r} column (the label)")
    return features.drop(columns=[TARGET_COLUMN]), features[TARGET_COLUMN]


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a frame (order-sensitive), recorded with each model version."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return hashlib.sha256(hashed.tobytes()).hexdigest()
