"""Synthetic rows drawn from the raw contract: tests, benchmarks and anonymous samples.

Every column follows its contract (type, range, categories, missing values, the id
pattern), and the target depends on the features through fixed random weights, the
same for every seed: a model trained on one generated table scores well on another, so
training on generated data passes the metric gate whatever the table.
"""

import re
import string
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
    is_number,
    is_text,
    raw_contract,
)

MISSING_SHARE = 0.03
# The relation between features and target: one seed for every table this module makes.
RELATION_SEED = 20_240_611
SIMPLE_PATTERN = re.compile(r"\^\[([^\]]+)\]\{(\d+),(\d+)\}\$")
TEXT_ALPHABET = np.array(list(string.ascii_lowercase))


def generate(rows: int, seed: int = 0, with_label: bool = True) -> pd.DataFrame:
    """`rows` rows that pass the raw contract, ids distinct across seeds, target learnable."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    rng = np.random.default_rng(seed)
    relation = np.random.default_rng(RELATION_SEED)
    values: dict[str, Any] = {}
    signal = np.zeros(rows)
    for name, column in raw_contract.columns.items():
        if name == TARGET_COLUMN:
            continue
        if name == ID_COLUMN:
            values[name] = entity_ids(column, rows, seed)
            continue
        drawn, effect = _draw(column, rows, rng, relation)
        signal += effect
        series = pd.Series(drawn, dtype=object if is_text(column) else None)
        if column.nullable:
            series[rng.uniform(size=rows) < MISSING_SHARE] = None
        values[name] = series
    frame = pd.DataFrame(values, index=pd.RangeIndex(rows))
    if with_label:
        frame[TARGET_COLUMN] = _target(signal, rows, rng, relation)
    return frame


def _bounds(column: pa.Column) -> tuple[float, float]:
    low, high = -np.inf, np.inf
    for check in column.checks:
        statistics = check.statistics
        if "min_value" in statistics and check.name != "str_length":
            low = max(low, float(statistics["min_value"]))
        if "max_value" in statistics and check.name != "str_length":
            high = min(high, float(statistics["max_value"]))
    if not np.isfinite(low):
        low = min(0.0, high - 100.0) if np.isfinite(high) else -100.0
    if not np.isfinite(high):
        high = low + 100.0
    return low, high


def _draw(
    column: pa.Column, rows: int, rng: np.random.Generator, relation: np.random.Generator
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """A column's values and their contribution to the target's signal."""
    # Text that cleaning narrows to categories is drawn from those: valid raw values too.
    allowed = allowed_values(column) or allowed_values(clean_contract.columns[column.name])
    if allowed is not None:
        codes = rng.integers(0, len(allowed), size=rows)
        effects = relation.normal(0, 1.2, size=len(allowed))
        choices = np.array(allowed, dtype=object if is_text(column) else None)
        return choices[codes], effects[codes]
    if is_number(column):
        low, high = _bounds(column)
        if str(column.dtype).startswith("int"):
            low, high = np.ceil(low), np.floor(high)
            drawn = rng.integers(int(low), int(high) + 1, size=rows)
        else:
            drawn = np.round(rng.uniform(low, high, size=rows), 4)
        span = max(high - low, 1e-9)
        return drawn, relation.normal(0, 3.0) * ((drawn - low) / span - 0.5)
    lengths = [check.statistics for check in column.checks if check.name == "str_length"]
    shortest = max(1, int((lengths[0].get("min_value") or 3) if lengths else 3))
    longest = max(shortest, int((lengths[0].get("max_value") or 12) if lengths else 12))
    sizes = rng.integers(shortest, min(longest, shortest + 12) + 1, size=rows)
    letters = TEXT_ALPHABET[rng.integers(0, len(TEXT_ALPHABET), size=(rows, int(sizes.max(initial=1))))]
    text = np.array(["".join(row[:size]) for row, size in zip(letters, sizes, strict=True)], dtype=object)
    return text, np.zeros(rows)


def _target(
    signal: npt.NDArray[np.float64],
    rows: int,
    rng: np.random.Generator,
    relation: np.random.Generator,
) -> npt.NDArray[Any]:
    target = raw_contract.columns[TARGET_COLUMN]
    classes = allowed_values(target)
    if TASK == "regression" or classes is None:
        low, high = _bounds(target)
        share = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.3, size=rows))))
        values = low + (high - low) * (0.1 + 0.8 * share)
        digits = 0 if str(target.dtype).startswith("int") else 4
        rounded: npt.NDArray[Any] = np.round(values, digits)
        return rounded
    labels = np.array(sorted(classes), dtype=object if is_text(target) else None)
    if len(labels) == 2:
        centred = signal - np.median(signal) if rows else signal
        positive = rng.uniform(size=rows) < 1 / (1 + np.exp(-centred))
        chosen: npt.NDArray[Any] = labels[positive.astype(int)]
        return chosen
    weights = relation.normal(0, 1, size=len(labels))
    offsets = relation.normal(0, 1, size=len(labels))
    scores = np.outer(signal, weights) + offsets + rng.gumbel(0, 0.3, size=(rows, len(labels)))
    best: npt.NDArray[Any] = labels[scores.argmax(axis=1)]
    return best


def entity_ids(column: pa.Column, rows: int, seed: int) -> npt.NDArray[Any]:
    """`rows` distinct ids (distinct across seeds too) matching the id column's pattern."""
    numbers = np.arange(rows, dtype=np.int64) + seed * 10_000_000
    patterns = [
        re.compile(str(getattr(check.statistics["pattern"], "pattern", check.statistics["pattern"])))
        for check in column.checks
        if check.name == "str_matches"
    ]
    last = int(numbers.max(initial=0))
    for form in ("R{:010d}", "{:010d}"):
        if all(p.fullmatch(form.format(0)) and p.fullmatch(form.format(last)) for p in patterns):
            return np.array([form.format(int(number)) for number in numbers], dtype=object)
    match = SIMPLE_PATTERN.fullmatch(patterns[0].pattern) if patterns else None
    if match is None:
        raise ValueError(f"cannot draw ids for the pattern of {column.name!r}")
    alphabet = _expand(match.group(1))
    shortest, longest = int(match.group(2)), int(match.group(3))
    ids = [_encode(int(number), alphabet, shortest) for number in numbers]
    if any(len(value) > longest for value in ids):
        raise ValueError(f"{rows} distinct ids do not fit the pattern of {column.name!r}")
    return np.array(ids, dtype=object)


def _expand(characters: str) -> str:
    expanded: list[str] = []
    index = 0
    while index < len(characters):
        if index + 2 < len(characters) and characters[index + 1] == "-":
            start, end = characters[index], characters[index + 2]
            expanded.extend(chr(code) for code in range(ord(start), ord(end) + 1))
            index += 3
        else:
            expanded.append(characters[index].replace("\\", ""))
            index += 1
    return "".join(sorted(set("".join(expanded))))


def _encode(number: int, alphabet: str, width: int) -> str:
    digits: list[str] = []
    base = max(len(alphabet), 2)
    while number or not digits:
        number, remainder = divmod(number, base)
        digits.append(alphabet[remainder % len(alphabet)])
    return "".join(reversed(digits)).rjust(width, alphabet[0])
