"""`adopt`: point the project at your own table.

It reads a sample of the table, infers its raw contract (types, nullability, ranges and
categories with slack, the id pattern) and the task, shows it, and only when every check
passed writes `dataset.py` (the contract), resets `features.py` and its tests to the
generic default, writes a new sample under `data/sample/` and points the settings and
the README at it. Every file is written atomically; if a step fails, the files written
before it are restored, so the project is never left half adopted.

The new `dataset.py` is generated from the inferred contract as text (the running
process keeps the old one imported), then checked: it must validate the table it came
from, and a fresh interpreter must import the project's contracts with it.
"""

import difflib
import keyword
import math
import os
import re
import subprocess
import sys
import types
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path, PurePosixPath
from typing import Literal, cast, get_args

import numpy as np
import pandas as pd
import pandera.pandas as pa
from fsspec.core import split_protocol
from pandera.errors import SchemaErrors

from . import io
from .data import unreadable
from .logs import get_logger, shorten

logger = get_logger(__name__)

PACKAGE = __name__.rpartition(".")[0]
# The checkout this package runs from: adopt rewrites its source, configs and README.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

Task = Literal["binary", "multiclass", "regression"]
TaskChoice = Literal["auto", "binary", "multiclass", "regression"]
Kind = Literal["int", "float", "str"]
Role = Literal["id", "target", "feature"]
Bound = int | float
Value = int | float | str

TASKS: tuple[Task, ...] = get_args(Task)
MAX_READ_ROWS = 100_000  # rows read from the table to infer the contract
SAMPLE_ROWS = 2_000  # rows of the new data/sample file
SLACK = 0.5  # observed spans widen by this share on each side
SIGNIFICANT_DIGITS = 3  # bounds are rounded outwards to this many digits
MAX_CATEGORIES = 50  # text with at most this many distinct (repeated) values: categories
MAX_AUTO_CLASSES = 20  # --task auto: a target with at most this many classes is a class
MAX_CLASSES = 100  # --task multiclass: at most this many classes
SHOWN_VALUES = 5  # values named in an error or in the shown contract
# Ids travel through URLs, CSV files and databases: the shape contracts.py enforces.
ID_CHARACTERS = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
ID_LENGTH_LIMIT = 64
ID_ROOM = 12
# Field names in dataset.py: lower-case ASCII identifiers; other column names get an alias.
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
FIELD_NAME_LIMIT = 40
# Names a field must not take: DataFrameModel's own, names the module needs in the class
# body (`pa`, the types in `Series[...]`) and `l` (ruff E741).
RESERVED_FIELDS = frozenset(
    {name.lower() for name in dir(pa.DataFrameModel)} | {"pa", "int", "float", "str", "l"}
)
# The README's generated API examples begin with this (serving/examples.py writes them).
README_BLOCK = "<!-- api-examples: begin"
LINE_LENGTH = 100  # ruff's line length in pyproject.toml
INDENT = "    "


class AdoptError(Exception):
    """The table cannot be adopted as asked; nothing was written."""


@dataclass(frozen=True)
class ColumnContract:
    """What the contract says about one column of the table."""

    name: str  # as in the table
    field: str  # the attribute in RawSchema (`alias=name` when they differ)
    kind: Kind
    role: Role = "feature"
    nullable: bool = False
    ge: Bound | None = None
    le: Bound | None = None
    isin: tuple[Value, ...] | None = None
    str_length: tuple[int, int] | None = None
    pattern: str | None = None
    note: str = ""  # shown beside the column: where a rule comes from

    def rule(self) -> str:
        """The checks in a few words, for the shown contract."""
        if self.pattern is not None:
            return f"matches {self.pattern}"
        if self.isin is not None:
            values = ", ".join(shorten(value, 20) for value in self.isin[:SHOWN_VALUES])
            more = f", … ({len(self.isin)})" if len(self.isin) > SHOWN_VALUES else ""
            return f"one of {values}{more}"
        if self.str_length is not None:
            return f"{self.str_length[0]} to {self.str_length[1]} characters"
        if self.ge is not None or self.le is not None:
            low = "" if self.ge is None else number_literal(self.ge)
            high = "" if self.le is None else number_literal(self.le)
            return f"{low} .. {high}".strip()
        return "any"


@dataclass(frozen=True)
class InferredContract:
    """The raw contract of a table and what the project learns from it."""

    task: Task
    target_column: str
    id_column: str | None
    sample_uri: str
    columns: tuple[ColumnContract, ...]
    rows: int  # rows the contract was inferred from


# ---------------------------------------------------------------- reading the table


def read_sample(uri: str, max_rows: int = MAX_READ_ROWS, text: Sequence[str] = ()) -> pd.DataFrame:
    """The first `max_rows` rows of the CSV or Parquet table at `uri` (`text` read as text)."""
    chunks: list[pd.DataFrame] = []
    rows = 0
    try:
        for chunk in io.iter_table(uri, chunk_rows=min(max_rows, 50_000), text=text):
            chunks.append(chunk.head(max_rows - rows))
            rows += len(chunks[-1])
            if rows >= max_rows:
                break
    except Exception as error:
        raise unreadable(uri, error) from None
    if not chunks:  # a CSV holding its header only
        chunks.append(io.read_table(uri, text=text))
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    frame.columns = [str(name) for name in frame.columns]
    return frame


# ---------------------------------------------------------------- inferring the contract


def infer_contract(
    frame: pd.DataFrame,
    target: str,
    id_column: str | None = None,
    task: TaskChoice = "auto",
    sample_uri: str = "data/sample/table.csv",
) -> InferredContract:
    """The raw contract of `frame`, or AdoptError naming what stops it."""
    columns = [str(name) for name in frame.columns]
    if len(columns) != len(set(columns)):
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        raise AdoptError(f"the table repeats column names: {names(repeated)}")
    for role, name in (("target", target), ("id", id_column)):
        if name is not None and name not in columns:
            close = difflib.get_close_matches(name, columns, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise AdoptError(
                f"no {role} column {name!r} in the table{hint}; its columns are: {names(columns)}"
            )
    if id_column == target:
        raise AdoptError(f"{target!r} cannot be both the target and the id column")
    if frame.empty:
        raise AdoptError("the table has no rows: adopt infers the contract from the data")
    if len(columns) < 2 + (id_column is not None):
        raise AdoptError("the table has no feature column besides the target and the id")
    chosen, target_contract = infer_target(frame[target], task)
    inferred = []
    for name in columns:
        if name == target:
            inferred.append(target_contract)
        else:
            infer = infer_id if name == id_column else infer_feature
            inferred.append(infer(frame[name]))
    fields = field_names(columns)
    return InferredContract(
        task=chosen,
        target_column=target,
        id_column=id_column,
        sample_uri=sample_uri,
        columns=tuple(
            replace(column, field=field_name)
            for column, field_name in zip(inferred, fields, strict=True)
        ),
        rows=len(frame),
    )


def kind_of(values: pd.Series) -> tuple[Kind | Literal["bool"], pd.Series]:
    """How the contract types a column ("bool" becomes int 0/1), and its values as such."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values.dtype) or (
        len(present) > 0 and present.map(lambda value: isinstance(value, bool | np.bool_)).all()
    ):
        return "bool", values.map(lambda value: value if pd.isna(value) else int(value))
    if pd.api.types.is_integer_dtype(values.dtype):
        return ("float" if values.isna().any() else "int"), values
    if pd.api.types.is_float_dtype(values.dtype):
        return "float", values.astype("float64")
    return "str", values.map(lambda value: value if is_missing(value) else str(value))


def is_missing(value: object) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def infer_feature(values: pd.Series) -> ColumnContract:
    """Type, nullability and range or categories of a feature column."""
    name = str(values.name)
    kind, typed = kind_of(values)
    nullable = bool(typed.isna().any())
    if kind == "bool":
        if nullable:  # 0, 1 and missing: integers cannot hold the missing ones
            return ColumnContract(name, name, "float", nullable=True, isin=(0, 1), note="bool")
        return ColumnContract(name, name, "int", isin=(0, 1), note="bool")
    if kind in ("int", "float"):
        low, high = numeric_range(typed, integer=kind == "int")
        note = "all missing" if typed.isna().all() else ""
        return ColumnContract(name, name, kind, nullable=nullable, ge=low, le=high, note=note)
    text = typed.dropna().astype(str)
    distinct = sorted(set(text))
    note = "date/time as text" if pd.api.types.is_datetime64_any_dtype(values.dtype) else ""
    if 0 < len(distinct) <= MAX_CATEGORIES and len(distinct) * 2 <= len(text):
        return ColumnContract(
            name, name, "str", nullable=nullable, isin=tuple(distinct), note=note or "category"
        )
    lengths = text.str.len()
    if lengths.empty:
        return ColumnContract(name, name, "str", nullable=True, note="all missing")
    low, high = widen(int(lengths.min()), int(lengths.max()), nonnegative=True)
    shortest = max(1 if lengths.min() > 0 else 0, math.floor(low))
    free = f"free text ({len(distinct):,} distinct)" if len(distinct) > MAX_CATEGORIES else ""
    return ColumnContract(
        name,
        name,
        "str",
        nullable=nullable,
        str_length=(shortest, math.ceil(high)),
        note=note or free,
    )


def infer_id(values: pd.Series) -> ColumnContract:
    """The id column: unique, never missing, text matching an inferred pattern."""
    name = str(values.name)
    missing = int(values.isna().sum())
    if missing:
        raise AdoptError(
            f"id column {name!r} has {missing:,} missing value(s); every row needs one"
        )
    ids = values.map(
        lambda value: str(int(value)) if isinstance(value, float) and value.is_integer() else value
    ).astype(str)
    bad = [value for value in ids.unique() if ID_CHARACTERS.fullmatch(value) is None]
    if bad:
        raise AdoptError(
            f"id column {name!r} has values that are not 1 to {ID_LENGTH_LIMIT} ASCII letters,"
            f" digits, '_', '.' or '-' (ids travel in URLs and files): {shown(bad)}"
        )
    duplicated = ids[ids.duplicated()].unique().tolist()
    if duplicated:
        raise AdoptError(
            f"id column {name!r} has {len(duplicated):,} duplicated value(s), e.g."
            f" {shown(duplicated)}; pick a column that names each row once, or none"
        )
    # 1 to at least ID_ROOM characters: room for more rows and for the generator's ids,
    # and digit-only ids read back from CSV lose their leading zeros.
    high = widen(0, int(ids.str.len().max()), nonnegative=True)[1]
    longest = min(ID_LENGTH_LIMIT, max(math.ceil(high), ID_ROOM))
    text = "".join(ids)
    classes = "".join(
        part
        for part, present in (
            ("A-Z", re.search("[A-Z]", text)),
            ("a-z", re.search("[a-z]", text)),
            ("0-9", re.search("[0-9]", text)),
            ("_", "_" in text),
            (".", "." in text),
            ("-", "-" in text),
        )
        if present
    )
    # Always {min,max}: the data generator reads that form.
    repeat = "{" + f"1,{longest}" + "}"
    return ColumnContract(name, name, "str", role="id", pattern=f"^[{classes}]{repeat}$")


def infer_target(values: pd.Series, task: TaskChoice) -> tuple[Task, ColumnContract]:
    """The task (`auto`: from the target's values) and the target's contract."""
    name = str(values.name)
    missing = int(values.isna().sum())
    if missing:
        raise AdoptError(
            f"target column {name!r} has {missing:,} missing value(s): adopt needs labelled"
            " rows (drop the unlabelled ones, or score them with predict later)"
        )
    kind, typed = kind_of(values)
    distinct = sorted(typed.unique().tolist())
    if len(distinct) < 2:
        raise AdoptError(
            f"target column {name!r} has a single value ({shown(distinct)}): nothing to learn"
        )
    numeric = kind != "str"
    integral = kind in ("int", "bool") or (
        kind == "float" and all(float(value).is_integer() for value in distinct)
    )
    chosen = choose_task(name, task, kind, len(distinct), integral=integral)
    if chosen == "regression":
        low, high = numeric_range(typed.astype("float64"), integer=False)
        return chosen, ColumnContract(name, name, "float", role="target", ge=low, le=high)
    if numeric and integral:
        classes: tuple[Value, ...] = tuple(int(value) for value in distinct)
        return chosen, ColumnContract(name, name, "int", role="target", isin=classes)
    if numeric:
        return chosen, ColumnContract(name, name, "float", role="target", isin=tuple(distinct))
    return chosen, ColumnContract(name, name, "str", role="target", isin=tuple(distinct))


def choose_task(name: str, task: TaskChoice, kind: str, classes: int, *, integral: bool) -> Task:
    """The task asked for, if the target fits it; for `auto`, the one its values suggest."""
    numeric = kind != "str"
    if task == "auto":
        if classes == 2:
            return "binary"
        if (not numeric or integral) and classes <= MAX_AUTO_CLASSES:
            return "multiclass"
        if numeric:
            return "regression"
        raise AdoptError(
            f"target column {name!r} is text with {classes:,} distinct values: too many for"
            f" a class (auto allows {MAX_AUTO_CLASSES}); pass --task multiclass to keep them"
        )
    if task == "binary" and classes != 2:
        raise AdoptError(
            f"--task binary needs a target with exactly 2 values; {name!r} has {classes:,}"
            f" (use --task {'multiclass' if classes <= MAX_CLASSES else 'regression'})"
        )
    if task == "multiclass" and numeric and not integral:
        raise AdoptError(
            f"--task multiclass needs classes (text or whole numbers); {name!r} holds"
            " fractional numbers (use --task regression)"
        )
    if task == "multiclass" and classes > MAX_CLASSES:
        raise AdoptError(
            f"--task multiclass allows at most {MAX_CLASSES} classes; {name!r} has"
            f" {classes:,}{' (use --task regression)' if numeric else ''}"
        )
    if task == "regression" and not numeric:
        raise AdoptError(f"--task regression needs a numeric target; {name!r} holds text")
    if task == "regression" and kind == "bool":
        raise AdoptError(f"--task regression needs a numeric target; {name!r} is true/false")
    return task


def numeric_range(values: pd.Series, *, integer: bool) -> tuple[Bound | None, Bound | None]:
    """Bounds around the finite values, widened (never below 0 if no value is)."""
    finite = values[np.isfinite(values.astype("float64"))]
    if finite.empty:
        return None, None
    low, high = widen(finite.min(), finite.max(), nonnegative=bool(finite.min() >= 0))
    if integer:
        return math.floor(low), math.ceil(high)
    return low, high


def widen(low: Bound, high: Bound, *, nonnegative: bool) -> tuple[Bound, Bound]:
    """[low, high] widened by SLACK of its span on each side, rounded outwards.

    A single value widens by SLACK of its size (1 for zero); a span that starts at 0 or
    above stays at 0 or above.
    """
    low, high = float(low), float(high)
    span = high - low or abs(high) or 1.0
    wide_low, wide_high = low - SLACK * span, high + SLACK * span
    if nonnegative:
        wide_low = max(wide_low, 0.0)
    return round_outwards(wide_low, ROUND_FLOOR), round_outwards(wide_high, ROUND_CEILING)


def round_outwards(value: float, rounding: str) -> Bound:
    """`value` rounded to SIGNIFICANT_DIGITS digits, away from the observed span."""
    if value == 0:
        return 0
    digits = math.floor(math.log10(abs(value))) - SIGNIFICANT_DIGITS + 1
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(digits), rounding=rounding)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)


def field_names(columns: Sequence[str]) -> list[str]:
    """A RawSchema attribute per column: the name itself where it can be one, else derived."""
    taken = {name for name in columns if is_field_name(name)}
    result = []
    for name in columns:
        if is_field_name(name):
            result.append(name)
            continue
        base = derived_field_name(name)
        candidate, number = base, 2
        while candidate in taken:
            suffix = f"_{number}"
            candidate, number = base[: FIELD_NAME_LIMIT - len(suffix)] + suffix, number + 1
        taken.add(candidate)
        result.append(candidate)
    return result


def is_field_name(name: str) -> bool:
    return (
        FIELD_NAME.fullmatch(name) is not None
        and len(name) <= FIELD_NAME_LIMIT
        and not keyword.iskeyword(name)
        and not keyword.issoftkeyword(name)
        and name not in RESERVED_FIELDS
    )


def derived_field_name(name: str) -> str:
    """snake_case ASCII from any column name: "Sale Price" -> sale_price, "class" -> class_."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)  # camelCase -> camel_Case
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[^0-9a-z]+", "_", text.lower(), flags=re.ASCII).strip("_")
    text = text[:FIELD_NAME_LIMIT].rstrip("_")
    if not text:
        return "column"
    if text[0].isdigit():
        return f"column_{text}"[:FIELD_NAME_LIMIT].rstrip("_")
    if not is_field_name(text):
        return f"{text[: FIELD_NAME_LIMIT - 1]}_"
    return text


def names(values: Sequence[str], limit: int = 40) -> str:
    """Column names for a message: the first `limit` of them."""
    more = f" and {len(values) - limit:,} more" if len(values) > limit else ""
    return ", ".join(shorten(repr(value)) for value in values[:limit]) + more


def shown(values: Sequence[object]) -> str:
    more = f" and {len(values) - SHOWN_VALUES:,} more" if len(values) > SHOWN_VALUES else ""
    return ", ".join(shorten(repr(value)) for value in values[:SHOWN_VALUES]) + more


# ---------------------------------------------------------------- the text of dataset.py


def dataset_source(contract: InferredContract) -> str:
    """The text of `dataset.py` for `contract`: ruff-clean, ruff-format-clean Python."""
    id_value = "None" if contract.id_column is None else string_literal(contract.id_column)
    lines = [
        '"""The table this project learns from: its columns, its target and its task.',
        "",
        f"`{PACKAGE} adopt` writes this module from a sample of your table:",
        "review it like any other change. Every other layer (API models, store columns,",
        "monitor, the data generator, the tests) follows it; cleaning rules and engineered",
        "features live in `features.py`.",
        '"""',
        "",
        "from typing import Final, Literal",
        "",
        "import pandera.pandas as pa",
        "from pandera.typing import Series",
        "",
        f'TASK: Final[Literal["binary", "multiclass", "regression"]] = "{contract.task}"',
        *statement(f"ID_COLUMN: Final[str | None] = {id_value}"),
        *statement(f"TARGET_COLUMN: Final[str] = {string_literal(contract.target_column)}"),
        *statement(f"SAMPLE_URI: Final[str] = {string_literal(contract.sample_uri)}"),
        f'MODEL_NAME: Final[str] = "{model_name(contract)}"',
        "",
        "",
        "class RawSchema(pa.DataFrameModel):",
        f'{INDENT}"""Records as they arrive: types, ranges and categories, before any cleaning."""',
        "",
    ]
    for column in contract.columns:
        lines.extend(field_lines(column))
    lines += ["", f"{INDENT}class Config:", f"{INDENT * 2}coerce = True"]
    lines.append(f'{INDENT * 2}strict = "filter"')
    return "\n".join(lines) + "\n"


def model_name(contract: InferredContract) -> str:
    """The registered model's name: the sample's name and the kind of estimator."""
    stem = re.sub(r"[^a-z0-9]+", "-", PurePosixPath(contract.sample_uri).stem.lower())
    kind = "regressor" if contract.task == "regression" else "classifier"
    return f"{stem.strip('-')[:40].strip('-') or 'table'}-{kind}"


def field_lines(column: ColumnContract) -> list[str]:
    """The lines of one RawSchema attribute, laid out as ruff format lays them out."""
    optional = " | None" if column.role == "target" else ""
    prefix = f"{INDENT}{column.field}: Series[{column.kind}]{optional} = pa.Field"
    arguments: list[Argument] = []
    if column.field != column.name:
        arguments.append(Argument("alias=", [string_literal(column.name)], bracket=False))
    if column.pattern is not None:
        arguments.append(Argument("str_matches=", [f'r"{column.pattern}"'], bracket=False))
    if column.ge is not None:
        arguments.append(Argument("ge=", [number_literal(column.ge)], bracket=False))
    if column.le is not None:
        arguments.append(Argument("le=", [number_literal(column.le)], bracket=False))
    if column.isin is not None:
        arguments.append(Argument("isin=", [value_literal(value) for value in column.isin]))
    if column.str_length is not None:
        low, high = column.str_length
        text = "{" + f'"min_value": {low}, "max_value": {high}' + "}"
        arguments.append(Argument("str_length=", [text], bracket=False))
    if column.nullable:
        arguments.append(Argument("nullable=", ["True"], bracket=False))
    return with_noqa(call_lines(prefix, arguments, INDENT))


@dataclass(frozen=True)
class Argument:
    """A keyword argument: `name=value`, or `name=[items]` when `bracket`."""

    keyword: str
    items: list[str]
    bracket: bool = True

    def flat(self) -> str:
        if not self.bracket:
            return self.keyword + self.items[0]
        return f"{self.keyword}[{', '.join(self.items)}]"

    def lines(self, indent: str, suffix: str) -> list[str]:
        """The argument at `indent`, its list split one item a line if it is too long."""
        line = f"{indent}{self.flat()}{suffix}"
        if not self.bracket or fits(line) or not self.items:
            return [line]
        comma = "," if len(self.items) > 1 else ""
        inner = [f"{indent}{INDENT}{item}{comma}" for item in self.items]
        return [f"{indent}{self.keyword}[", *inner, f"{indent}]{suffix}"]


def call_lines(prefix: str, arguments: list[Argument], indent: str) -> list[str]:
    """`prefix(arguments)`: one line, else the arguments on one line, else one a line."""
    flat = f"{prefix}({', '.join(argument.flat() for argument in arguments)})"
    if fits(flat):
        return [flat]
    inner_indent = indent + INDENT
    body = f"{inner_indent}{', '.join(argument.flat() for argument in arguments)}"
    if fits(body):
        return [f"{prefix}(", body, f"{indent})"]
    comma = "," if len(arguments) > 1 else ""
    inner = [line for argument in arguments for line in argument.lines(inner_indent, comma)]
    return [f"{prefix}(", *inner, f"{indent})"]


def statement(line: str) -> list[str]:
    """A module-level assignment, its value in parentheses if the line is too long."""
    if fits(line):
        return [line]
    target, _, value = line.partition(" = ")
    return with_noqa([f"{target} = (", f"{INDENT}{value}", ")"])


def fits(line: str) -> bool:
    return len(line) <= LINE_LENGTH


def with_noqa(lines: list[str]) -> list[str]:
    """Lines that stay too long (a long name or category) are exempt from the length rule."""
    return [line if fits(line) else f"{line}  # noqa: E501" for line in lines]


def string_literal(text: str) -> str:
    """`text` as a Python string literal in ruff format's style (ASCII, escapes)."""
    literal = ascii(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal


def number_literal(value: Bound) -> str:
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    text = format(Decimal(repr(value)).normalize(), "f")
    if "." not in text:
        return number_literal(int(text))
    whole, _, fraction = text.partition(".")
    return f"{number_literal(int(whole)) if whole not in ('-0', '0') else whole}.{fraction}"


def value_literal(value: Value) -> str:
    return string_literal(value) if isinstance(value, str) else number_literal(value)


# ---------------------------------------------------------------- checking the new module


def load_schema(source: str) -> type[pa.DataFrameModel]:
    """RawSchema of a `dataset.py` text, built without importing the project's module."""
    module = types.ModuleType(f"_{PACKAGE}_adopted_dataset")
    sys.modules[module.__name__] = module
    try:
        exec(compile(source, "dataset.py", "exec"), module.__dict__)
        schema = module.__dict__["RawSchema"]
        schema.to_schema()
    finally:
        del sys.modules[module.__name__]
    return cast("type[pa.DataFrameModel]", schema)


def check_validates(schema: type[pa.DataFrameModel], frame: pd.DataFrame, what: str) -> None:
    """AdoptError unless `schema` accepts `frame` (the inferred contract must hold)."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as error:
        from .contracts import describe_violation  # the old contract's module: fine here

        message = f"the inferred contract rejects {what}:\n{describe_violation(error)}"
        raise AdoptError(message) from None


# ---------------------------------------------------------------- planning and writing


@dataclass
class Plan:
    """Everything adopt will write, computed and checked before the first write."""

    input_uri: str
    contract: InferredContract
    sample_mode: Literal["synthetic", "copy"]
    sample_rows: int
    texts: dict[Path, str]  # project files and their new text
    copied: pd.DataFrame | None  # the rows of `--sample copy`
    old_sample: Path | None  # removed once the new sample is in place
    refresh_readme: bool
    root: Path = PROJECT_ROOT
    notes: list[str] = field(default_factory=list)

    @property
    def sample(self) -> Path:
        return self.root / self.contract.sample_uri


def plan(
    input_uri: str,
    target: str,
    id_column: str | None = None,
    task: TaskChoice = "auto",
    sample: Literal["synthetic", "copy"] = "synthetic",
    sample_rows: int = SAMPLE_ROWS,
    root: Path = PROJECT_ROOT,
) -> Plan:
    """Read the table, infer its contract and build every new file; nothing is written."""
    if sample_rows < 1:
        raise AdoptError(f"--sample-rows must be at least 1, got {sample_rows}")
    package = root / "src" / PACKAGE
    if not (package / "dataset.py").is_file() or not (root / "configs").is_dir():
        raise AdoptError(
            f"adopt rewrites the project's files, but {root} is no project checkout: run it"
            " from the project (`make adopt` or `uv run` in its folder)"
        )
    old_uri = current_sample_uri(root)
    new_uri = f"data/sample/{table_stem(input_uri)}.csv"
    if is_same_file(input_uri, root / new_uri):
        raise AdoptError(
            f"the table is {new_uri}, where adopt writes the new sample: move it out of"
            " data/sample/ (e.g. to data/) and adopt it from there"
        )
    frame = read_sample(input_uri, text=() if id_column is None else (id_column,))
    contract = infer_contract(frame, target, id_column, task, sample_uri=new_uri)
    source = dataset_source(contract)
    schema = load_schema(source)
    check_validates(schema, frame, f"the {len(frame):,} rows it was inferred from")
    copied = None
    if sample == "copy":
        copied = frame.sample(n=min(sample_rows, len(frame)), random_state=0).sort_index()
    texts = {package / "dataset.py": source, **generic_sources(root)}
    old_stem = PurePosixPath(old_uri).stem
    for config in sorted((root / "configs").glob("*.yaml")):
        text = config.read_text(encoding="utf-8")
        updated = updated_config(text, old_uri, new_uri, old_stem, table_stem(input_uri))
        if updated != text:
            texts[config] = updated
    readme = root / "README.md"
    refresh_readme = (package / "serving" / "examples.py").is_file() and (
        readme.is_file() and README_BLOCK in readme.read_text(encoding="utf-8")
    )
    old_sample = root / old_uri
    return Plan(
        input_uri=input_uri,
        contract=contract,
        sample_mode=sample,
        sample_rows=len(copied) if copied is not None else sample_rows,
        texts=texts,
        copied=copied,
        old_sample=old_sample if old_sample != root / new_uri else None,
        refresh_readme=refresh_readme,
        root=root,
        notes=review_notes(contract),
    )


def generic_sources(root: Path) -> dict[Path, str]:
    """features.py and tests/test_features.py as they are for a new table."""
    from .features_default import FEATURES_SOURCE, FEATURES_TESTS_SOURCE

    return {
        root / "src" / PACKAGE / "features.py": FEATURES_SOURCE,
        root / "tests" / "test_features.py": FEATURES_TESTS_SOURCE,
    }


def current_sample_uri(root: Path) -> str:
    """SAMPLE_URI of the dataset.py on disk (the imported module may be older)."""
    text = (root / "src" / PACKAGE / "dataset.py").read_text(encoding="utf-8")
    match = re.search(r'^SAMPLE_URI: Final\[str\] = "([^"\n]+)"$', text, re.MULTILINE)
    if match is None:
        raise AdoptError(f"src/{PACKAGE}/dataset.py names no SAMPLE_URI: restore it from git")
    return match.group(1)


def table_stem(uri: str) -> str:
    """The table's file name without extensions, as a safe file name ("houses" for houses.csv)."""
    name = PurePosixPath(str(split_protocol(uri)[1]).rstrip("/")).name
    stem = name.split(".")[0] if not name.startswith(".") else name.lstrip(".")
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")
    return safe or "table"


def is_same_file(uri: str, path: Path) -> bool:
    if io.is_remote(uri) or io.protocol(uri) == "memory":
        return False
    local = Path(str(split_protocol(uri)[1]))
    return local.exists() and path.exists() and local.resolve() == path.resolve()


def updated_config(text: str, old_uri: str, new_uri: str, old_stem: str, new_stem: str) -> str:
    """configs/<env>.yaml with the data paths pointing at the new table's names."""

    def rename(match: re.Match[str]) -> str:
        key, value = match.group("key"), match.group("value")
        if value == old_uri:
            return f"{match.group('head')}{new_uri}"
        head, _, name = value.rpartition("/")
        stem, dot, extension = name.partition(".")
        if stem == old_stem and dot:
            value = f"{head}/{new_stem}.{extension}" if head else f"{new_stem}.{extension}"
        return f"{match.group('head')}{value}" if key else match.group(0)

    pattern = (
        r"^(?P<head>\s+(?P<key>train_uri|predict_input_uri|predictions_uri):\s*)(?P<value>\S+)$"
    )
    return re.sub(pattern, rename, text, flags=re.MULTILINE)


def review_notes(contract: InferredContract) -> list[str]:
    """What deserves a look in the inferred contract."""
    notes = []
    for column in contract.columns:
        if column.note.startswith("free text"):
            notes.append(
                f"{column.name!r} is {column.note}: a poor feature as it is; derive something"
                " from it in features.py or drop the column from your table"
            )
        if column.note == "all missing":
            notes.append(f"{column.name!r} is empty in the sample: its type is a guess")
    return notes


def apply(plan: Plan) -> list[Path]:
    """Write every file of `plan`; on any failure restore what was there and raise."""
    backups = {path: path.read_bytes() if path.exists() else None for path in plan.texts}
    backups[plan.sample] = plan.sample.read_bytes() if plan.sample.exists() else None
    readme = plan.root / "README.md"
    if plan.refresh_readme:
        backups[readme] = readme.read_bytes()
    try:
        if plan.copied is not None:
            io.write_table(str(plan.sample), plan.copied)
        for path, text in plan.texts.items():
            io.write_text(str(path), text)
        if plan.copied is None:
            rows = str(plan.sample_rows)
            sample = plan.contract.sample_uri
            run_project(plan.root, "-m", PACKAGE, "generate", "--rows", rows, "--output", sample)
        run_project(plan.root, "-c", FRESH_CHECK, plan.contract.sample_uri)
        if plan.refresh_readme:
            run_project(plan.root, "-m", f"{PACKAGE}.serving.examples", "--write", "README.md")
    except BaseException:
        restore(backups)
        raise
    written = [plan.sample, *plan.texts, *([readme] if plan.refresh_readme else [])]
    if plan.old_sample is not None and plan.old_sample.is_file():
        plan.old_sample.unlink()
    aside = set_aside(plan.root / LOCAL_ARTIFACTS)
    logger.info("adopt.written", files=[str(path) for path in written], set_aside=str(aside))
    return written


# The local environment's models, reports, predictions and store (SQLite) belong to the
# previous table: they are moved aside, not deleted, so the next run starts clean.
LOCAL_ARTIFACTS = "artifacts/local"
SET_ASIDE_SUFFIX = "-before-adopt-"


def set_aside(folder: Path) -> Path | None:
    """Rename `folder` to `<folder>-before-adopt-<UTC time>`, if it exists."""
    if not folder.is_dir():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = folder.with_name(f"{folder.name}{SET_ASIDE_SUFFIX}{stamp}")
    folder.rename(aside)
    return aside


# Run in a fresh interpreter after writing: the project imports with the new contract and
# the new sample passes it.
FRESH_CHECK = f"""
import sys
from {PACKAGE} import contracts, io
from {PACKAGE}.data import TEXT_COLUMNS
contracts.raw_contract.validate(io.read_table(sys.argv[1], text=TEXT_COLUMNS), lazy=True)
"""


def run_project(root: Path, *arguments: str) -> None:
    """Run the project's Python (this interpreter, the project's source) in `root`."""
    environment = dict(os.environ)
    source = str(root / "src")
    environment["PYTHONPATH"] = os.pathsep.join(
        [source, *filter(None, [environment.get("PYTHONPATH")])]
    )
    command = [sys.executable, *arguments]
    done = subprocess.run(
        command, cwd=root, env=environment, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()[-15:]
        step = " ".join(arguments[:3])
        raise AdoptError(
            f"the adopted project failed `python {step}` (nothing kept: every file is"
            " restored):\n" + "\n".join(output)
        )


def restore(backups: dict[Path, bytes | None]) -> None:
    for path, data in backups.items():
        if data is None:
            path.unlink(missing_ok=True)
        else:
            io.write_bytes(str(path), data)


# ---------------------------------------------------------------- what the user reads


def describe(plan: Plan) -> str:
    """The inferred contract as a table, and what will be written."""
    contract = plan.contract
    id_text = "none" if contract.id_column is None else repr(contract.id_column)
    lines = [
        f"contract inferred from {contract.rows:,} rows of {shorten(plan.input_uri)}",
        f"task: {contract.task}    target: {contract.target_column!r}    id: {id_text}",
        "",
    ]
    header = ("column", "type", "missing", "rule", "")
    rows = [
        (
            shorten(column.name, 30)
            + (f" ({column.field})" if column.field != column.name else ""),
            column.kind,
            "allowed" if column.nullable else "no",
            shorten(column.rule(), 60),
            column.role if column.role != "feature" else column.note,
        )
        for column in contract.columns
    ]
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    sample = (
        f"{plan.sample_rows:,} rows copied from the table (real data: not anonymised)"
        if plan.sample_mode == "copy"
        else f"{plan.sample_rows:,} synthetic rows drawn from the contract"
    )
    lines += ["", "adopt will write:", f"  {contract.sample_uri}: {sample}"]
    lines += [f"  {relative(path, plan.root)}" for path in plan.texts]
    if plan.refresh_readme:
        lines.append("  README.md: the API examples")
    if plan.old_sample is not None and plan.old_sample.is_file():
        lines.append(f"and removes {relative(plan.old_sample, plan.root)}")
    lines += [f"note: {note}" for note in plan.notes]
    return "\n".join(lines)


def next_steps(plan: Plan, written: Sequence[Path]) -> str:
    """What adopt wrote, and what to review and edit next."""
    steps = [
        ("git diff", "review the contract: types, ranges, categories, missing values, id"),
        (f"src/{PACKAGE}/features.py", "your cleaning rules and engineered features"),
        ("make check train", "tests, then a model on the new sample"),
    ]
    width = max(len(step) for step, _ in steps)
    lines = ["wrote:", *(f"  {relative(path, plan.root)}" for path in written)]
    if plan.old_sample is not None and not plan.old_sample.exists():
        lines += ["removed:", f"  {relative(plan.old_sample, plan.root)}"]
    local = plan.root / LOCAL_ARTIFACTS
    aside = sorted(local.parent.glob(f"{local.name}{SET_ASIDE_SUFFIX}*"))
    if aside and not local.exists():
        lines += [
            "set aside (the previous table's local models, predictions and store):",
            f"  {relative(local, plan.root)} -> {relative(aside[-1], plan.root)}",
        ]
    lines.append("next:")
    return "\n".join(lines + [f"  {step.ljust(width)}  {what}" for step, what in steps])


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
