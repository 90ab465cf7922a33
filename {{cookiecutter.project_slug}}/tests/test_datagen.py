"""The data generator: whatever the table, its rows pass the contracts and teach a model."""

import re
import string
from io import StringIO

import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from {{cookiecutter.package_name}} import data, report
from {{cookiecutter.package_name}}.contracts import (
    CLASSES,
    ID_COLUMN,
    TARGET_COLUMN,
    TASK,
    clean_contract,
    features_contract,
    is_integer,
    is_number,
    raw_contract,
)
from {{cookiecutter.package_name}}.datagen import (
    column_values,
    entity_ids,
    generate,
    parse_pattern,
)
from {{cookiecutter.package_name}}.model import GradientBoostingModel
from {{cookiecutter.package_name}}.settings import ModelSettings, TrainingSettings

needs_id = pytest.mark.skipif(ID_COLUMN is None, reason="the table has no id column")
some = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])


@some
@given(rows=st.integers(0, 300), seed=st.integers(0, 10**6), with_label=st.booleans())
def test_generated_rows_pass_every_contract(rows: int, seed: int, with_label: bool) -> None:
    frame = generate(rows, seed=seed, with_label=with_label)
    assert len(frame) == rows
    expected = [name for name in raw_contract.columns if with_label or name != TARGET_COLUMN]
    assert list(frame.columns) == expected
    raw = raw_contract.validate(frame, lazy=True)
    cleaned = clean_contract.validate(data.clean(raw), lazy=True)
    assert len(cleaned) == rows  # ids are distinct: cleaning drops nothing
    features_contract.validate(data.build_features(cleaned), lazy=True)


@some
@given(rows=st.integers(1, 200), seed=st.integers(0, 10**6))
def test_the_same_seed_gives_the_same_rows(rows: int, seed: int) -> None:
    pd.testing.assert_frame_equal(generate(rows, seed=seed), generate(rows, seed=seed))
    unlabelled = generate(rows, seed=seed, with_label=False)
    pd.testing.assert_frame_equal(unlabelled, generate(rows, seed=seed).drop(columns=TARGET_COLUMN))


@needs_id
@some
@given(seeds=st.lists(st.integers(0, 500), min_size=2, max_size=4, unique=True))
def test_ids_are_distinct_across_seeds(seeds: list[int]) -> None:
    ids = [entity for seed in seeds for entity in generate(50, seed=seed)[ID_COLUMN]]
    assert len(set(ids)) == len(ids)


def test_nullable_columns_miss_some_values_and_others_none() -> None:
    frame = generate(3000, seed=1)
    for name, column in raw_contract.columns.items():
        missing = int(frame[name].isna().sum())
        if column.nullable and not is_integer(column):
            assert 0 < missing < len(frame) * 0.1, name
        else:
            assert missing == 0, name


def test_every_class_and_a_spread_of_values_appear() -> None:
    target = generate(2000, seed=4)[TARGET_COLUMN]
    if CLASSES:
        shares = target.value_counts(normalize=True)
        assert set(shares.index) == set(CLASSES)
        assert shares.min() > 0.5 / len(CLASSES)
    else:
        assert target.nunique() > 1
        assert target.std() > 0


def test_a_model_trained_on_generated_rows_passes_the_gate() -> None:
    def features(rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
        table = generate(rows, seed=seed)
        return data.split_target(data.build_features(data.clean(data.validate_raw(table))))

    model = GradientBoostingModel(ModelSettings(max_iter=60)).fit(*features(1500, seed=21))
    test_features, target = features(800, seed=22)
    outputs = model.outputs(test_features)
    metrics = report.evaluate(target, outputs, model.scores_of(outputs, 0.5), model.classes)
    training = TrainingSettings()
    assert training.passes(metrics[training.metric]), metrics
    if TASK == "regression":
        assert metrics["r2"] > 0.3
    else:
        most_frequent = float(target.value_counts(normalize=True).max())
        assert metrics["accuracy"] > most_frequent + 0.1, metrics


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="rows must be >= 0"):
        generate(-1)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        generate(3, seed=-2)


CLASS_PARTS = ["A-Z", "a-z", "0-9", "_", ".", "-"]


@st.composite
def id_patterns(draw: st.DrawFn) -> str:
    """Id patterns as `adopt` writes them: "^[<classes>]{m,n}$", "-" last."""
    parts = draw(st.lists(st.sampled_from(CLASS_PARTS), min_size=1, unique=True))
    parts.sort(key=CLASS_PARTS.index)
    shortest = draw(st.integers(1, 12))
    longest = draw(st.integers(shortest, 64))
    repeat = "{" + f"{shortest},{longest}" + "}"
    return f"^[{''.join(parts)}]{repeat}$"


@some
@given(pattern=id_patterns(), rows=st.integers(0, 300), seed=st.integers(0, 1000))
def test_ids_follow_any_pattern_adopt_writes(pattern: str, rows: int, seed: int) -> None:
    column = pa.Column(str, pa.Check.str_matches(pattern), name="key")
    parsed = parse_pattern(pattern)
    assert parsed is not None
    alphabet, shortest, longest = parsed
    capacity = sum(len(alphabet) ** size for size in range(shortest, longest + 1))
    if rows > capacity:
        with pytest.raises(ValueError, match="do not fit the pattern"):
            entity_ids(column, rows, seed)
        return
    ids = entity_ids(column, rows, seed).tolist()
    assert len(set(ids)) == rows
    assert all(re.fullmatch(pattern, value) for value in ids)


@pytest.mark.parametrize(
    ("pattern", "alphabet", "shortest", "longest"),
    [
        (r"^[A-Za-z0-9_.-]{1,64}$", string.ascii_letters + string.digits + "_.-", 1, 64),
        (r"^[0-9]{6}$", string.digits, 6, 6),
        (r"^[a-f0-9]{32,32}$", "0123456789abcdef", 32, 32),
        (r"^[\d\-]{3,5}$", string.digits + "-", 3, 5),
        (r"^[a\-z]{2,4}$", "-az", 2, 4),
        (r"^[A-Z]+$", string.ascii_uppercase, 1, 12),
    ],
)
def test_id_patterns_are_read(pattern: str, alphabet: str, shortest: int, longest: int) -> None:
    assert parse_pattern(pattern) == ("".join(sorted(alphabet)), shortest, longest)


@pytest.mark.parametrize("pattern", [r"^C-\d+$", r"^[^a]{3}$", r"^(ab|cd)$"])
def test_other_patterns_are_named_in_the_error(pattern: str) -> None:
    column = pa.Column(str, pa.Check.str_matches(pattern), name="key")
    with pytest.raises(ValueError, match="is not one character class repeated"):
        entity_ids(column, 3, seed=0)


@st.composite
def number_columns(draw: st.DrawFn) -> pa.Column:
    """A number column with any mix of bounds, open or closed, nullable or not."""
    integer = draw(st.booleans())
    value = st.integers(-(10**6), 10**6) if integer else st.floats(-1e6, 1e6, allow_nan=False)
    low, high = sorted([draw(value), draw(value)])
    high = max(high, low + (2 if integer else 1))  # room for a value between open bounds
    checks = []
    if draw(st.booleans()):
        checks.append(pa.Check.gt(low) if draw(st.booleans()) else pa.Check.ge(low))
    if draw(st.booleans()):
        checks.append(pa.Check.lt(high) if draw(st.booleans()) else pa.Check.le(high))
    if draw(st.booleans()):
        checks.append(
            pa.Check.in_range(
                low, high, include_min=draw(st.booleans()), include_max=draw(st.booleans())
            )
        )
    return pa.Column(int if integer else float, checks, nullable=draw(st.booleans()), name="n")


@st.composite
def text_columns(draw: st.DrawFn) -> pa.Column:
    """A text column: categories, or free text of bounded length."""
    if draw(st.booleans()):
        categories = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, unique=True))
        checks = [pa.Check.isin(categories)]
    else:
        shortest = draw(st.integers(0, 20))
        longest = draw(st.one_of(st.none(), st.integers(max(shortest, 1), 40)))
        checks = [pa.Check.str_length(min_value=shortest, max_value=longest)]
    return pa.Column(str, checks, nullable=draw(st.booleans()), name="t")


@some
@given(
    column=st.one_of(number_columns(), text_columns()),
    rows=st.integers(0, 200),
    seed=st.integers(0, 1000),
)
def test_any_column_is_drawn_within_its_contract(column: pa.Column, rows: int, seed: int) -> None:
    values = column_values(column, rows, seed)
    assert len(values) == rows
    schema = pa.DataFrameSchema({column.name: column}, coerce=True)
    schema.validate(values.to_frame(), lazy=True)
    if is_number(column):  # numbers keep to their range through a CSV file
        schema.validate(pd.read_csv(StringIO(values.to_frame().to_csv(index=False))), lazy=True)
