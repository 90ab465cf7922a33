"""Synthetic rows drawn from the raw contract: tests, benchmarks and anonymous samples.

Every column follows its contract (type, range, categories, missing values, the id
pattern), and the target depends on the features through fixed random weights, the
same for every seed: a model trained on one generated table scores well on another, so
training on generated data passes the metric gate whatever the table.
"""

import math
import re
import string
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandera.pandas as pa

from .contracts import (
    ID_COLUMN,
    TARGET_COLUMN,
    TASK,
    allowed_values,
    clean_contract,
    is_integer,
    is_number,
    is_text,
    raw_contract,
)

MISSING_SHARE = 0.03
# The relation between features and target: one seed for every table this module makes.
RELATION_SEED = 20_240_611
# Ids of seed s start at s * ID_SPACING: distinct across seeds below that many rows.
ID_SPACING = 10_000_000
# Strength of the features' signal against the target's noise (signal has unit spread).
SIGNAL = 3.0
NOISE = 0.3
# Numbers are drawn with this many decimals; unbounded numbers span this much.
DECIMALS = 4
DEFAULT_SPAN = 100.0
# Integers stay within what a float64 holds exactly; floats are drawn from a finite span.
LARGEST_INTEGER = 2**53
LARGEST_SPAN = 1e15
# Patterns drawn: one character class repeated, "^[...]{m,n}$" (also {m}, {m,}, + and *).
SIMPLE_PATTERN = re.compile(r"\^?\[([^\]]+)\](?:\{(\d+)(,(\d*))?\}|([+*]))\$?")
CLASS_ESCAPES = {"d": string.digits, "w": string.ascii_letters + string.digits + "_"}
TEXT_ALPHABET = np.array(list(string.ascii_lowercase))
LONGEST_DRAWN_TEXT = 12


def generate(rows: int, seed: int = 0, with_label: bool = True) -> pd.DataFrame:
    """`rows` rows that pass the raw contract, ids distinct across seeds, target learnable.

    Columns in the contract's order; nullable columns miss a few values (integer columns
    excepted: a missing value makes them floats); the target, if `with_label`, depends
    on the other columns the same way for every seed.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng(seed)
    relation = np.random.default_rng(RELATION_SEED)
    values: dict[str, Any] = {}
    signal = np.zeros(rows)
    weights = 0.0
    for name, column in raw_contract.columns.items():
        if name == TARGET_COLUMN:
            continue
        if name == ID_COLUMN:
            values[name] = entity_ids(column, rows, seed)
            continue
        drawn, effect = _draw(column, rows, rng, relation)
        weight = float(relation.choice([-1.0, 1.0]) * relation.uniform(0.5, 1.5))
        if effect is not None:
            signal += weight * effect
            weights += weight**2
        values[name] = _with_missing(column, drawn, rng)
    frame = pd.DataFrame(values, index=pd.RangeIndex(rows))
    if with_label:
        frame[TARGET_COLUMN] = _target(signal / math.sqrt(weights or 1.0), rng, relation)
    return frame


def column_values(column: pa.Column, rows: int, seed: int = 0) -> pd.Series:
    """`rows` values of one contract column, drawn as `generate` draws them (no target)."""
    rng = np.random.default_rng(seed)
    relation = np.random.default_rng(RELATION_SEED)
    drawn, _ = _draw(column, rows, rng, relation)
    return _with_missing(column, drawn, rng).rename(column.name)


def _with_missing(
    column: pa.Column, drawn: npt.NDArray[Any], rng: np.random.Generator
) -> pd.Series:
    """The drawn values as a column; a few go missing where the contract allows it.

    Not in integer columns: pandas would make them floats, which the contract refuses.
    """
    series = pd.Series(drawn, dtype=object if is_text(column) else None)
    if column.nullable and not is_integer(column):
        series[rng.uniform(size=len(series)) < MISSING_SHARE] = None
    return series


def bounds(column: pa.Column) -> tuple[float | None, float | None, bool, bool]:
    """The column's lowest and highest value (None: unbounded) and whether each is excluded."""
    low: float | None = None
    high: float | None = None
    low_open = high_open = False
    for check in column.checks:
        statistics = check.statistics
        if check.name in {"greater_than_or_equal_to", "greater_than", "in_range"}:
            value = float(statistics["min_value"])
            strict = check.name == "greater_than" or not statistics.get("include_min", True)
            if low is None or value > low or (value == low and strict):
                low, low_open = value, strict
        if check.name in {"less_than_or_equal_to", "less_than", "in_range"}:
            value = float(statistics["max_value"])
            strict = check.name == "less_than" or not statistics.get("include_max", True)
            if high is None or value < high or (value == high and strict):
                high, high_open = value, strict
    return low, high, low_open, high_open


def _number_range(column: pa.Column) -> tuple[float, float]:
    """The closed range numbers are drawn from: inside the bounds, a default span if open."""
    low, high, low_open, high_open = bounds(column)
    if low is None:
        low, low_open = -DEFAULT_SPAN if high is None else min(0.0, high - DEFAULT_SPAN), False
    if high is None:
        high, high_open = low + DEFAULT_SPAN, False
    first: float
    last: float
    if is_integer(column):
        first = max(math.floor(low) + 1 if low_open else math.ceil(low), -LARGEST_INTEGER)
        last = min(math.ceil(high) - 1 if high_open else math.floor(high), LARGEST_INTEGER)
    else:
        # Away from an excluded bound by more than a CSV file's digits can blur.
        first = low + max(abs(low), 1.0) * 1e-9 if low_open else low
        last = high - max(abs(high), 1.0) * 1e-9 if high_open else high
        last = min(last, first + LARGEST_SPAN)
    if first > last:
        raise ValueError(f"no value of {column.name!r} fits its contract's range")
    return first, last


def _draw(
    column: pa.Column, rows: int, rng: np.random.Generator, relation: np.random.Generator
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64] | None]:
    """A column's values and their effect on the target (unit spread; None: no effect)."""
    # Text that cleaning narrows to categories is drawn from those: valid raw values too.
    allowed = allowed_values(column)
    if allowed is None and column.name in clean_contract.columns:
        allowed = allowed_values(clean_contract.columns[column.name])
    if allowed is not None:
        choices = np.array(allowed, dtype=object if is_text(column) else None)
        codes = rng.integers(0, len(choices), size=rows)
        effects = relation.normal(0, 1, size=len(choices))
        if len(choices) > 1:
            effects = (effects - effects.mean()) / (effects.std() or 1.0)
        return choices[codes], effects[codes]
    if is_number(column):
        low, high = _number_range(column)
        if is_integer(column):
            drawn: npt.NDArray[Any] = rng.integers(int(low), int(high) + 1, size=rows)
        else:
            drawn = np.clip(np.round(rng.uniform(low, high, size=rows), DECIMALS), low, high)
        span = high - low
        effect = (drawn - low) / span - 0.5 if span > 0 else np.zeros(rows)
        return drawn, effect * math.sqrt(12)  # uniform over the span: unit spread
    if is_text(column):
        return _text(column, rows, rng), None
    raise ValueError(f"cannot draw values of type {column.dtype} for {column.name!r}")


def _text(column: pa.Column, rows: int, rng: np.random.Generator) -> npt.NDArray[Any]:
    """Free text: the column's pattern if it has one, else letters of an allowed length."""
    if patterns(column):
        offset = int(rng.integers(0, ID_SPACING))
        return _from_pattern(column, rows, offset)
    shortest, longest = 1, LONGEST_DRAWN_TEXT
    for check in column.checks:
        if check.name == "str_length":
            statistics = check.statistics
            exact = statistics.get("exact_value")
            low = exact if exact is not None else statistics.get("min_value")
            high = exact if exact is not None else statistics.get("max_value")
            shortest = max(shortest, int(low or 1))
            longest = int(high) if high is not None else max(longest, shortest)
    longest = min(longest, shortest + LONGEST_DRAWN_TEXT)
    if shortest > longest:
        raise ValueError(f"no text fits the length limits of {column.name!r}")
    sizes = rng.integers(shortest, longest + 1, size=rows)
    letters = TEXT_ALPHABET[rng.integers(0, len(TEXT_ALPHABET), size=(rows, longest))]
    return np.array(
        ["".join(row[:size]) for row, size in zip(letters, sizes, strict=True)], dtype=object
    )


def _target(
    signal: npt.NDArray[np.float64], rng: np.random.Generator, relation: np.random.Generator
) -> npt.NDArray[Any]:
    """The target: a noisy function of the features' signal (which has unit spread)."""
    rows = len(signal)
    target = raw_contract.columns[TARGET_COLUMN]
    classes = allowed_values(target)
    if classes is None:
        low, high = _number_range(target)
        share = 1 / (1 + np.exp(-(SIGNAL * signal + rng.normal(0, NOISE, size=rows))))
        values = low + (high - low) * (0.1 + 0.8 * share)
        if is_integer(target):
            whole: npt.NDArray[Any] = np.clip(np.round(values), low, high).astype(np.int64)
            return whole
        rounded: npt.NDArray[Any] = np.clip(np.round(values, DECIMALS), low, high)
        return rounded
    labels = np.array(sorted(classes), dtype=object if is_text(target) else None)
    if len(labels) == 2 and TASK != "regression":
        positive = rng.uniform(size=rows) < 1 / (1 + np.exp(-SIGNAL * signal))
        chosen: npt.NDArray[Any] = labels[positive.astype(int)]
        return chosen
    # Classes by bands of the signal, in an order the relation fixes (rising for a
    # regression target): each class about as frequent as the others, each learnable.
    order = np.arange(len(labels)) if TASK == "regression" else relation.permutation(len(labels))
    normal = NormalDist()
    edges = [normal.inv_cdf(index / len(labels)) for index in range(1, len(labels))]
    noisy = signal + rng.normal(0, NOISE / SIGNAL, size=rows)
    banded: npt.NDArray[Any] = labels[order[np.searchsorted(edges, noisy)]]
    return banded


def patterns(column: pa.Column) -> list[re.Pattern[str]]:
    """The patterns a text column's values must match (`str_matches` checks)."""
    found = [check.statistics["pattern"] for check in column.checks if check.name == "str_matches"]
    return [re.compile(str(getattr(pattern, "pattern", pattern))) for pattern in found]


def entity_ids(column: pa.Column, rows: int, seed: int) -> npt.NDArray[Any]:
    """`rows` distinct ids matching the id column's pattern, distinct across seeds too.

    Across seeds while the pattern leaves room for `ID_SPACING` ids per seed; a narrow
    pattern (few characters, short ids) still gives distinct ids within one table.
    """
    return _from_pattern(column, rows, seed * ID_SPACING)


def _from_pattern(column: pa.Column, rows: int, offset: int) -> npt.NDArray[Any]:
    """`rows` distinct texts matching the column's patterns, the `offset`-th onwards."""
    rules = patterns(column)
    last = offset + max(rows - 1, 0)
    for form in ("R{:010d}", "{:010d}"):
        if all(rule.fullmatch(form.format(end)) for rule in rules for end in (offset, last)):
            return np.array([form.format(offset + index) for index in range(rows)], dtype=object)
    parsed = [parse_pattern(rule.pattern) for rule in rules]
    if not parsed or parsed[0] is None:
        shown = ", ".join(repr(rule.pattern) for rule in rules) or "none"
        raise ValueError(
            f"cannot draw values for {column.name!r}: its pattern ({shown}) is not one"
            " character class repeated, such as ^[A-Za-z0-9_.-]{1,64}$"
        )
    alphabet, shortest, longest = parsed[0]
    capacity = sum(len(alphabet) ** size for size in range(shortest, longest + 1))
    if rows > capacity:
        raise ValueError(f"{rows} distinct values do not fit the pattern of {column.name!r}")
    if offset + rows > capacity:
        offset = offset * 7_919 % (capacity - rows + 1)  # less room: distinct per table
    values = [_encode(offset + index, alphabet, shortest) for index in range(rows)]
    for value in values[:1] + values[-1:]:
        if not all(rule.fullmatch(value) for rule in rules):
            raise ValueError(f"cannot draw values for {column.name!r} that match its patterns")
    return np.array(values, dtype=object)


def parse_pattern(pattern: str) -> tuple[str, int, int] | None:
    """A pattern "^[class]{m,n}$" as (the class's characters, m, n); None for other forms."""
    match = SIMPLE_PATTERN.fullmatch(pattern)
    if match is None:
        return None
    characters, low, comma, high, repeat = match.groups()
    alphabet = _expand(characters)
    if not alphabet:
        return None
    if repeat is not None:
        shortest, longest = (1 if repeat == "+" else 0), LONGEST_DRAWN_TEXT
    else:
        shortest = int(low)
        longest = int(high) if high else shortest + LONGEST_DRAWN_TEXT
        longest = shortest if comma is None else longest
    return alphabet, max(shortest, 1), longest


def _expand(characters: str) -> str:
    """The characters a regex class body ("A-Z0-9_.-", "\\d\\-") stands for."""
    if characters.startswith("^"):
        return ""  # a negated class: not drawn
    tokens: list[tuple[str, bool]] = []  # (characters, escaped)
    index = 0
    while index < len(characters):
        if characters[index] == "\\" and index + 1 < len(characters):
            escaped = characters[index + 1]
            tokens.append((CLASS_ESCAPES.get(escaped, escaped), True))
            index += 2
        else:
            tokens.append((characters[index], False))
            index += 1
    expanded: list[str] = []
    position = 0
    while position < len(tokens):
        text = tokens[position][0]
        end = tokens[position + 2][0] if position + 2 < len(tokens) else ""
        if tokens[position + 1 : position + 2] == [("-", False)] and len(text) == len(end) == 1:
            expanded.extend(chr(code) for code in range(ord(text), ord(end) + 1))
            position += 3
        else:
            expanded.append(text)
            position += 1
    return "".join(sorted(set("".join(expanded))))


def _encode(number: int, alphabet: str, shortest: int) -> str:
    """The `number`-th text over `alphabet`, shortest texts first (a bijection)."""
    base = len(alphabet)
    size = shortest
    while number >= base**size:
        number -= base**size
        size += 1
    digits = []
    for _ in range(size):
        number, remainder = divmod(number, base)
        digits.append(alphabet[remainder])
    return "".join(reversed(digits))
