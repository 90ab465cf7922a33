"""The model behind the service: scores records, stored features and CSV files."""

import functools
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Literal

import pandas as pd
from pandera.errors import SchemaErrors
from pydantic import BaseModel, ValidationError, create_model

from .. import data
from ..columns import Columns
from ..contracts import FEATURE_COLUMNS, ID_COLUMN, features_contract
from ..features import clean_columns, feature_columns
from ..logs import shorten
from ..model import Model
from ..pipelines.predict import score
from ..registry import ModelCard
from ..store import (
    Label,
    PredictionRow,
    Record,
    json_records,
    new_prediction_id,
)
from .errors import echo
from .schemas import RECORD_COLUMNS, contract_fields

OutputFormat = Literal["csv", "json"]


@dataclass(frozen=True)
class Scored:
    prediction: Label
    probability: float | None
    features: Record


def entity_of(record: Record) -> str | None:
    """The id of a record, or None when the table has no id column."""
    identity = ID_COLUMN
    return None if identity is None else record[identity]


class ContractViolationError(Exception):
    """An uploaded file breaks a data contract; `failures` lists the rows and checks."""

    def __init__(self, message: str, failures: list[Record]) -> None:
        super().__init__(message)
        self.failures = failures


class Predictor:
    def __init__(self, model: Model, card: ModelCard, threshold: float) -> None:
        self.model = model
        self.card = card
        self.threshold = threshold
        self.version = f"v{card.version}"

    def _score_columns(self, features: Columns) -> list[Scored]:
        scores = self.model.score_columns(features, self.threshold)
        probabilities = scores.probability.tolist() if scores.probability is not None else None
        values = [features[name].tolist() for name in FEATURE_COLUMNS]
        return [
            Scored(
                prediction,
                None if probabilities is None else probabilities[index],
                _json_record(row),
            )
            for index, (prediction, row) in enumerate(
                zip(scores.prediction.tolist(), zip(*values, strict=True), strict=True)
            )
        ]

    def score_records(self, records: list[Record]) -> list[Scored]:
        """Score records already validated by the request model (one model call).

        The batch job's cleaning and feature rules, applied to arrays of the records'
        columns rather than to a frame (which costs more than the model on a few rows).
        """
        columns = data.columns_from_records(records, RECORD_COLUMNS)
        columns |= clean_columns(columns)
        columns |= feature_columns(columns)
        return self._score_columns(columns)

    def score_features(self, features: list[Record]) -> list[Scored]:
        """Score stored feature rows (from the online feature table)."""
        return self._score_columns(data.columns_from_records(features, FEATURE_COLUMNS))

    def score_csv(
        self,
        source: IO[bytes],
        target: IO[bytes],
        output_format: OutputFormat,
        chunk_rows: int,
        created_at: datetime,
        log: Callable[[list[PredictionRow]], None],
    ) -> int:
        """Score a CSV chunk by chunk through every contract; write CSV or a JSON array.

        Each chunk's predictions are passed to `log`. Returns the number of rows; raises
        ContractViolationError (the output is then incomplete: discard it) if the file has
        no rows, or if any chunk fails, after checking the rest of the file so that every
        failing row is listed.
        """
        rows = 0
        failures: list[Record] = []
        if output_format == "json":
            target.write(b"[")
        for chunk in _read_chunks(source, chunk_rows):
            try:
                features = data.build_features(data.clean(data.validate_raw(chunk)))
                if features.empty:  # a header without rows
                    continue
                scored = score(features, self.model, self.version, self.threshold)
            except SchemaErrors as error:
                failures.extend(_failures(error))
            if failures:
                continue
            scored.insert(0, "prediction_id", [new_prediction_id() for _ in range(len(scored))])
            _write(scored, target, output_format, first=rows == 0)
            feature_records = json_records(features[list(FEATURE_COLUMNS)])
            log(
                [
                    PredictionRow(
                        id=record["prediction_id"],
                        created_at=created_at,
                        entity_id=entity_of(record),
                        model_version=self.version,
                        prediction=record["prediction"],
                        probability=record.get("probability"),
                        source="upload",
                        features=feature_record,
                    )
                    for record, feature_record in zip(
                        json_records(scored), feature_records, strict=True
                    )
                ]
            )
            rows += len(scored)
        if failures:
            raise ContractViolationError("the file breaks the data contract", failures[:100])
        if rows == 0:
            raise ContractViolationError("the file has a header but no data rows", [])
        if output_format == "json":
            target.write(b"]")
        return rows


def _json_record(values: tuple[object, ...]) -> Record:
    """Feature values by name, NaN as None (JSON has no NaN)."""
    return {
        name: None if isinstance(value, float) and math.isnan(value) else value
        for name, value in zip(FEATURE_COLUMNS, values, strict=True)
    }


def _read_chunks(source: IO[bytes], chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        text = dict.fromkeys(data.TEXT_COLUMNS, str)
        with pd.read_csv(source, chunksize=chunk_rows, dtype=text) as reader:
            yield from reader
    except pd.errors.EmptyDataError:
        raise ContractViolationError("the file is empty (no header row)", []) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        reason = shorten(str(error), limit=200)
        raise ContractViolationError(f"the file is not a readable CSV: {reason}", []) from None


def _write(
    scored: pd.DataFrame, target: IO[bytes], output_format: OutputFormat, first: bool
) -> None:
    if output_format == "csv":
        scored.to_csv(target, index=False, header=first)
        return
    body = ",".join(json.dumps(record) for record in json_records(scored))
    target.write((body if first else f",{body}").encode())


def _failures(error: SchemaErrors) -> list[dict[str, Any]]:
    """The failing checks, one entry per failing value (row = data row, 0-based)."""
    cases = error.failure_cases
    failures = []
    for case in json_records(cases[["column", "check", "index", "failure_case"]]):
        failures.append(
            {
                "row": case["index"],
                "column": case["column"],
                "check": case["check"],
                "value": echo(case["failure_case"]),
            }
        )
    return failures


@functools.cache
def _feature_contract(names: tuple[str, ...]) -> type[BaseModel]:
    """A request-style model of the features contract, restricted to `names`."""
    columns = features_contract.columns
    fields = contract_fields(features_contract, exclude=tuple(set(columns) - set(names)))
    return create_model("StoredFeatures", **fields)


def feature_contract_violation(features: Record, names: list[str]) -> str | None:
    """Why a stored feature row cannot be scored by a model trained on `names`, or None.

    Every feature the model was trained on must be present, with a value that the
    features contract allows (type, range, categories).
    """
    missing = [name for name in names if name not in features]
    if missing:
        return f"stored features lack {', '.join(missing)}"
    try:
        _feature_contract(tuple(names)).model_validate(features)
    except ValidationError as error:
        columns = sorted({str(issue["loc"][0]) for issue in error.errors() if issue["loc"]})
        return f"stored features break the features contract in {', '.join(columns)}"
    return None
