"""Workflow steps on data: load (raw contract), clean (clean contract), features."""

import hashlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pandera.pandas as pa

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
    """Read a whole dataset and enforce the raw contract."""
    return validate_raw(io.read_csv(uri))


def stream_raw(uri: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Read a dataset chunk by chunk, each chunk checked against the raw contract."""
    for chunk in io.iter_csv(uri, chunk_rows):
        yield validate_raw(chunk)


@log_time
@log_call
@pa.check_output(clean_contract, lazy=True)
def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Normalise categories, drop duplicate customers (last wins), fill derivable charges."""
    return apply_cleaning(raw.drop_duplicates(subset=ID_COLUMN, keep="last"))


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
    """Separate the label from the features; raise if the data carries no label."""
    if TARGET_COLUMN not in features.columns:
        raise ValueError(f"training data has no {TARGET_COLUMN!r} column")
    return features.drop(columns=[TARGET_COLUMN]), features[TARGET_COLUMN]


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a frame (order-sensitive), recorded with each model version."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return hashlib.sha256(hashed.tobytes()).hexdigest()
