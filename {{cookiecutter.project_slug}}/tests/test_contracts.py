"""The contracts, whatever the table: every bad value here is derived from the contract."""

import re
from typing import Annotated

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors
from pydantic import Field, TypeAdapter, ValidationError

from {{cookiecutter.package_name}}.contracts import (
    CLASSES,
    ENTITY_ID_PATTERN,
    FEATURE_COLUMNS,
    ID_COLUMN,
    TARGET_COLUMN,
    TASK,
    clean_contract,
    describe_violation,
    features_contract,
    is_entity_id,
    is_number,
    predictions_contract,
    raw_contract,
)
from {{cookiecutter.package_name}}.data import build_features, clean
from {{cookiecutter.package_name}}.datagen import generate, patterns
from .conftest import UNKNOWN_CATEGORY, categorical_columns, refused_values

needs_id = pytest.mark.skipif(ID_COLUMN is None, reason="the table has no id column")


def test_generated_rows_satisfy_every_contract(table: pd.DataFrame) -> None:
    raw = raw_contract.validate(table, lazy=True)
    cleaned = clean_contract.validate(clean(raw), lazy=True)
    features_contract.validate(build_features(cleaned), lazy=True)


def test_contracts_follow_one_another() -> None:
    assert list(clean_contract.columns) == list(raw_contract.columns)
    assert list(features_contract.columns)[: len(clean_contract.columns)] == list(
        clean_contract.columns
    )
    assert set(FEATURE_COLUMNS) <= set(features_contract.columns) - {ID_COLUMN, TARGET_COLUMN}
    assert not raw_contract.columns[TARGET_COLUMN].required
    if ID_COLUMN is not None:
        assert ID_COLUMN in predictions_contract.columns
        assert clean_contract.columns[ID_COLUMN].unique


def test_raw_contract_reports_every_failing_check_and_row(table: pd.DataFrame) -> None:
    refused = refused_values()
    assert refused, "the raw contract checks no feature column: give dataset.py checks"
    broken = table.astype(object)
    rows = {name: (3 + 2 * index) % len(table) for index, name in enumerate(refused)}
    for name, row in rows.items():
        broken.at[row, name] = refused[name]
    with pytest.raises(SchemaErrors) as caught:
        raw_contract.validate(broken, lazy=True)
    report = describe_violation(caught.value)
    for name in refused:
        assert repr(name) in report
    assert f"failing rows ({len(set(rows.values()))}," in report
    if ID_COLUMN is not None:
        first = min(rows.values())
        assert str(table.at[first, ID_COLUMN]) in report
        assert str(table.at[first + 1, ID_COLUMN]) not in report


@pytest.mark.parametrize(
    "name",
    [name for name, column in raw_contract.columns.items() if column.required],
)
def test_raw_contract_requires_its_columns(table: pd.DataFrame, name: str) -> None:
    with pytest.raises(SchemaErrors) as caught:
        raw_contract.validate(table.drop(columns=[name]), lazy=True)
    assert repr(name) in describe_violation(caught.value)


def test_raw_contract_takes_rows_without_the_target(table: pd.DataFrame) -> None:
    checked = raw_contract.validate(table.drop(columns=[TARGET_COLUMN]), lazy=True)
    assert TARGET_COLUMN not in checked.columns


def test_raw_contract_drops_columns_it_does_not_know(table: pd.DataFrame) -> None:
    checked = raw_contract.validate(table.assign(zz_unknown_column=1), lazy=True)
    assert "zz_unknown_column" not in checked.columns


@pytest.mark.parametrize("name", categorical_columns())
def test_unknown_categories_are_refused(table: pd.DataFrame, name: str) -> None:
    broken = table.head(20).astype(object)
    broken.at[4, name] = UNKNOWN_CATEGORY
    with pytest.raises(SchemaErrors) as caught:
        clean(raw_contract.validate(broken, lazy=True))
    report = describe_violation(caught.value)
    assert repr(name) in report
    assert UNKNOWN_CATEGORY in report


def test_predictions_contract_bounds_the_outputs(table: pd.DataFrame) -> None:
    rows = 3
    predictions = pd.DataFrame(
        {
            **({ID_COLUMN: table[ID_COLUMN].head(rows).tolist()} if ID_COLUMN else {}),
            "prediction": [CLASSES[0]] * rows if CLASSES else [1.0, 2.0, 3.0],
            **({"probability": [0.2, 0.5, 0.9]} if CLASSES else {}),
            "model_version": ["v1"] * rows,
        }
    )
    predictions_contract.validate(predictions, lazy=True)
    broken = predictions.copy()
    if TASK == "regression":
        broken["prediction"] = [1.0, float("inf"), 3.0]
        shown = "inf"
    else:
        broken["probability"] = [0.2, 1.7, 0.9]
        shown = "1.7"
    with pytest.raises(SchemaErrors) as caught:
        predictions_contract.validate(broken, lazy=True)
    assert shown in describe_violation(caught.value)


@pytest.mark.skipif(not CLASSES, reason="a regression task predicts values, not classes")
def test_predictions_contract_refuses_unknown_classes(table: pd.DataFrame) -> None:
    predictions = pd.DataFrame(
        {
            **({ID_COLUMN: table[ID_COLUMN].head(1).tolist()} if ID_COLUMN else {}),
            "prediction": [UNKNOWN_CATEGORY if isinstance(CLASSES[0], str) else 99],
            "probability": [0.5],
            "model_version": ["v1"],
        }
    )
    with pytest.raises(SchemaErrors, match="prediction"):
        predictions_contract.validate(predictions, lazy=True)


def is_valid_id(value: str) -> bool:
    """The rule, spelled out: 1 to 64 ASCII letters, digits, "_", "." or "-"."""
    allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
    return 1 <= len(value) <= 64 and all(character in allowed for character in value)


def id_patterns() -> list[str]:
    """The patterns of the id column (`dataset.py`), besides the rule every id follows."""
    if ID_COLUMN is None:
        return []
    return [rule.pattern for rule in patterns(raw_contract.columns[ID_COLUMN])]


API_ID = TypeAdapter(Annotated[str, Field(pattern=ENTITY_ID_PATTERN)])
ids = st.one_of(
    st.text(max_size=70),
    st.from_regex(re.compile(r"[A-Za-z0-9_.-]{1,64}"), fullmatch=True).map(
        lambda value: value + "\n"
    ),
    st.from_regex(re.compile(r"[A-Za-z0-9_.-]{60,70}"), fullmatch=True),
    *(st.from_regex(pattern, fullmatch=True) for pattern in id_patterns()),
)


@given(candidate=ids)
def test_the_id_rule_and_the_api_pattern_agree(candidate: str) -> None:
    try:
        API_ID.validate_python(candidate)
        api_accepts = True
    except ValidationError:
        api_accepts = False
    assert is_entity_id(candidate) == api_accepts == is_valid_id(candidate)


ONE_ROW = generate(1, seed=3)


@needs_id
@settings(deadline=None)
@given(candidate=ids)
def test_the_contract_accepts_exactly_the_valid_ids(candidate: str) -> None:
    frame = ONE_ROW.assign(**{str(ID_COLUMN): [candidate]})
    try:
        raw_contract.validate(frame, lazy=True)
        contract_accepts = True
    except SchemaErrors:
        contract_accepts = False
    expected = is_valid_id(candidate) and all(
        re.fullmatch(pattern, candidate) for pattern in id_patterns()
    )
    assert contract_accepts == expected


@needs_id
@pytest.mark.parametrize("candidate", ["C1\n", "é1", "C" * 65, "C1 ", "١٢٣"])
def test_ids_with_a_trailing_newline_or_beyond_ascii_are_refused(
    table: pd.DataFrame, candidate: str
) -> None:
    frame = table.head(2).assign(**{str(ID_COLUMN): [candidate, table[ID_COLUMN].iloc[1]]})
    with pytest.raises(SchemaErrors) as caught:
        raw_contract.validate(frame, lazy=True)
    assert repr(ID_COLUMN) in describe_violation(caught.value)


def test_violation_report_cuts_huge_values(table: pd.DataFrame) -> None:
    # A number column refuses text, a category column unknown text, an id column long text.
    numbers = [
        name
        for name, column in raw_contract.columns.items()
        if is_number(column) and name not in {ID_COLUMN, TARGET_COLUMN}
    ]
    name = next(iter(numbers + categorical_columns() + [str(ID_COLUMN)]))
    broken = table.head(3).astype(object)
    broken.at[1, name] = "x" * 1_000_000
    with pytest.raises(SchemaErrors) as caught:
        clean(raw_contract.validate(broken, lazy=True))
    report = describe_violation(caught.value)
    assert "1000000 characters" in report
    assert len(report) < 3_000
