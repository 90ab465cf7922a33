"""Request and response models, derived from the Pandera contracts.

The contracts in `contracts.py` are the single source of truth: each request field
takes its type, nullability and bounds from the raw contract and its allowed values
from the clean contract, so a record the API accepts is one the pipelines accept.
"""

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pandera.pandas as pa
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
)

from ..contracts import (
    TARGET_COLUMN,
    clean_contract,
    predictions_contract,
    raw_contract,
)

Source = Literal["online-features", "batch", "baseline"]


def _whole_number(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer as JSON Schema reads one: 3 and 3.0, but neither true nor "3" (strict).
Integer = Annotated[int, BeforeValidator(_whole_number)]


def _not_a_number(value: object) -> object:
    if isinstance(value, int | float) or (isinstance(value, str) and NUMBER.fullmatch(value)):
        raise ValueError("expected an ISO 8601 date-time, not a number")
    return value


NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
# A date-time as the schema says (ISO 8601 text), not a number read as a Unix time.
DateTime = Annotated[datetime, BeforeValidator(_not_a_number)]


def _python_type(dtype: object) -> Any:
    name = str(dtype)
    if name.startswith("int"):
        return Integer
    if name.startswith("float"):
        return float
    return str


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def contract_field(column: pa.Column, *refinements: pa.Column) -> tuple[Any, Any]:
    """A pydantic (annotation, Field) pair for a Pandera column and its later contracts."""
    annotation: Any = _python_type(column.dtype)
    constraints: dict[str, Any] = {}
    allowed: tuple[object, ...] | None = None
    for check in [check for source in (column, *refinements) for check in source.checks]:
        statistics = check.statistics
        if check.name == "greater_than_or_equal_to":
            constraints["ge"] = max(statistics["min_value"], constraints.get("ge", float("-inf")))
        elif check.name == "less_than_or_equal_to":
            constraints["le"] = min(statistics["max_value"], constraints.get("le", float("inf")))
        elif check.name == "str_length":
            if statistics.get("min_value") is not None:
                constraints["min_length"] = statistics["min_value"]
            if statistics.get("max_value") is not None:
                constraints["max_length"] = statistics["max_value"]
        elif check.name == "str_matches":
            constraints["pattern"] = getattr(
                statistics["pattern"], "pattern", statistics["pattern"]
            )
        elif check.name == "isin":
            allowed = tuple(statistics["allowed_values"])
    if allowed is not None:
        annotation = Literal[allowed]
        constraints = {}
    elif annotation is Integer:  # the contracts hold integers as int64
        constraints["ge"] = max(constraints.get("ge", INT64_MIN), INT64_MIN)
        constraints["le"] = min(constraints.get("le", INT64_MAX), INT64_MAX)
    elif annotation is float:
        constraints["allow_inf_nan"] = False
    if column.nullable:
        return annotation | None, Field(default=None, **constraints)
    return annotation, Field(**constraints)


def contract_fields(
    schema: pa.DataFrameSchema, *refinements: pa.DataFrameSchema, exclude: tuple[str, ...]
) -> dict[str, Any]:
    columns = schema.columns
    later = [refinement.columns for refinement in refinements]
    return {
        name: contract_field(column, *(other[name] for other in later if name in other))
        for name, column in columns.items()
        if name not in exclude
    }


class Record(BaseModel):
    # Strict: `true` is not an integer and "3" is not a number, as the OpenAPI schema says.
    model_config = ConfigDict(extra="forbid", strict=True)


class PredictionBase(BaseModel):
    prediction_id: str = Field(description="Quote it in POST /feedback.")


if TYPE_CHECKING:
    InputRecord = Record
    Prediction = PredictionBase
    EntityPrediction = PredictionBase
else:
    InputRecord = create_model(
        "InputRecord",
        __base__=Record,
        __doc__="One record, as the raw and clean contracts define it.",
        **contract_fields(raw_contract, clean_contract, exclude=(TARGET_COLUMN,)),
    )
    Prediction = create_model(
        "Prediction",
        __base__=PredictionBase,
        **contract_fields(predictions_contract, exclude=()),
    )
    EntityPrediction = create_model(
        "EntityPrediction",
        __base__=Prediction,
        source=(Source, Field(description="What answered: fresh features, batch or baseline.")),
        as_of=(datetime | None, Field(default=None, description="Age of the answer's data.")),
        reason=(
            str | None,
            Field(default=None, description="Why a fresher source was passed over, if one was."),
        ),
    )

RECORD_COLUMNS = list(InputRecord.model_fields)
# Names of the two shapes of a POST /predict body (error answers leave them out).
RECORD_TAGS = ("record", "records")


def _body_shape(body: object) -> str:
    return "records" if isinstance(body, list) else "record"


# One record, or a non-empty list of them. A list is validated as a list only, so that
# a bad record gets one error naming its index and field, not one per union branch.
RecordOrList = Annotated[
    Annotated[InputRecord, Tag("record")]
    | Annotated[list[InputRecord], Field(min_length=1), Tag("records")],
    Discriminator(_body_shape),
]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class HistoryItem(BaseModel):
    prediction_id: str
    created_at: datetime
    entity_id: str | None
    model_version: str
    prediction: int
    probability: float
    source: str


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    total: int = Field(description="Predictions matching the filters.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page, if any.")


class FeedbackBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    prediction_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    outcome: int


if TYPE_CHECKING:
    Feedback = FeedbackBase
else:
    Feedback = create_model(
        "Feedback",
        __base__=FeedbackBase,
        outcome=contract_field(raw_contract.columns[TARGET_COLUMN]),
    )


class FeedbackAccepted(BaseModel):
    prediction_id: str
    outcome: int


class FeedbackConflict(BaseModel):
    """The prediction already has a different outcome; it is kept."""

    detail: str
    prediction_id: str
    outcome: int = Field(description="The outcome stored first.")


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str
    metrics: dict[str, float]
    trained_at: datetime
    code_version: str


class Failure(BaseModel):
    row: int | None = Field(description="Data row (0-based), or null for the whole file.")
    column: str | None
    check: str
    value: Any = Field(description="The failing value (text cut to 80 characters).")


class ContractViolation(BaseModel):
    """An uploaded file that breaks the data contract: every failing row and check."""

    detail: str
    failures: list[Failure]


class Status(BaseModel):
    status: str
    detail: dict[str, bool] = {}
