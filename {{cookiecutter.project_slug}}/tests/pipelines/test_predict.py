"""Batch scoring on records drawn from the contract, whatever the table and the task."""

import math

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.contracts import (
    CLASSES,
    ID_COLUMN,
    TARGET_COLUMN,
    predictions_contract,
    raw_contract,
)
from {{cookiecutter.package_name}}.pipelines.predict import FirstRecordPerId, predict
from {{cookiecutter.package_name}}.registry import ModelNotFoundError
from {{cookiecutter.package_name}}.settings import (
    Settings,
)
from tests.conftest import needs_id, no_id


@pytest.fixture
def trained(memory_settings: Settings, registry_uri: str) -> Settings:
    """Settings on memory:// with a trained model."""
    storage = memory_settings.storage.model_copy(update={"registry_uri": registry_uri})
    return memory_settings.model_copy(update={"storage": storage})


def assert_scored(scored: pd.DataFrame, version: str) -> None:
    """Predictions as the task says: classes and probabilities, or values alone."""
    assert list(scored.columns) == list(predictions_contract.columns)
    assert set(scored["model_version"]) == {version}
    if CLASSES:
        assert set(scored["prediction"]) <= set(CLASSES)
        assert scored["probability"].between(0, 1).all()
    else:
        assert all(math.isfinite(value) for value in scored["prediction"])


def broken(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with one value the raw contract refuses: below a minimum, or a column gone."""
    frame = frame.copy()
    for name, column in raw_contract.columns.items():
        for check in column.checks:
            if name != TARGET_COLUMN and check.name == "greater_than_or_equal_to":
                frame.loc[350, name] = check.statistics["min_value"] - 1
                return frame
    required = [name for name, column in raw_contract.columns.items() if column.required]
    return frame.drop(columns=[name for name in required if name != TARGET_COLUMN][:1])


def test_predict_scores_every_row_in_chunks(trained: Settings, table: pd.DataFrame) -> None:
    result = predict(trained)

    scored = io.read_table(result.output_uri)
    assert result.rows == len(table) == len(scored)
    assert trained.data.chunk_rows < len(table)
    assert_scored(scored, f"v{result.model_version}")
    if ID_COLUMN is not None:
        assert scored[ID_COLUMN].astype(str).tolist() == table[ID_COLUMN].tolist()


def test_contract_violation_writes_no_output(
    trained: Settings, table: pd.DataFrame, memory_root: str
) -> None:
    input_uri = io.join(memory_root, "input", "broken.csv")
    io.write_table(input_uri, broken(table.drop(columns=[TARGET_COLUMN])))

    with pytest.raises(SchemaErrors):
        predict(trained, input_uri=input_uri)
    assert not io.exists(trained.data.predictions_uri)


def test_predict_needs_a_trained_model(memory_settings: Settings) -> None:
    with pytest.raises(ModelNotFoundError, match="alias 'test'"):
        predict(memory_settings)


@needs_id
def test_duplicate_ids_are_dropped_across_chunks_and_counted(
    trained: Settings, table: pd.DataFrame, memory_root: str
) -> None:
    assert ID_COLUMN is not None
    doubled = pd.concat([table, table.head(5), table.iloc[[10]]], ignore_index=True)
    input_uri = io.join(memory_root, "input", "doubled.csv")
    io.write_table(input_uri, doubled)

    result = predict(trained, input_uri=input_uri)

    scored = io.read_table(result.output_uri)
    assert trained.data.chunk_rows < len(table)
    assert scored[ID_COLUMN].astype(str).tolist() == table[ID_COLUMN].tolist()
    assert result.duplicates == 6
    assert result.rows == len(table)


@no_id
def test_without_ids_every_row_is_scored_and_the_store_is_left_alone(
    trained: Settings, table: pd.DataFrame, memory_root: str
) -> None:
    doubled = pd.concat([table, table.head(5)], ignore_index=True)
    input_uri = io.join(memory_root, "input", "doubled.csv")
    io.write_table(input_uri, doubled)

    result = predict(trained, input_uri=input_uri)

    scored = io.read_table(result.output_uri)
    assert result.rows == len(scored) == len(doubled)
    assert result.duplicates == 0
    assert_scored(scored, f"v{result.model_version}")
    assert scored["prediction"].tolist()[-5:] == scored["prediction"].tolist()[:5]
    engine = sa.create_engine(trained.store.url)
    with engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        for name in {"online_features", "batch_predictions"} & tables:
            count = connection.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
            assert count == 0
    engine.dispose()


def test_header_only_input_writes_a_header_only_output(
    trained: Settings, table: pd.DataFrame, memory_root: str
) -> None:
    input_uri = io.join(memory_root, "input", "empty.csv")
    io.write_table(input_uri, table.head(0))
    result = predict(trained, input_uri=input_uri)
    assert result.rows == 0
    assert io.read_table(result.output_uri).empty


@pytest.mark.parametrize(("source", "target"), [("parquet", "parquet"), ("csv", "parquet")])
def test_parquet_input_and_output_match_csv(
    trained: Settings, table: pd.DataFrame, memory_root: str, source: str, target: str
) -> None:
    input_uri = io.join(memory_root, "input", f"records.{source}")
    io.write_table(input_uri, table.drop(columns=[TARGET_COLUMN]))
    from_csv = io.read_table(predict(trained).output_uri)

    output_uri = io.join(memory_root, "output", f"scored.{target}")
    result = predict(trained, input_uri=input_uri, output_uri=output_uri)

    assert io.read_bytes(output_uri)[:4] == b"PAR1"
    scored = io.read_table(output_uri)
    assert result.rows == len(table)
    assert_scored(scored, f"v{result.model_version}")
    if ID_COLUMN is not None:
        assert scored[ID_COLUMN].tolist() == from_csv[ID_COLUMN].astype(str).tolist()
    if CLASSES:
        assert scored["prediction"].tolist() == from_csv["prediction"].tolist()
        assert scored["probability"].tolist() == pytest.approx(from_csv["probability"].tolist())
        assert scored["probability"].dtype == "float64"
    else:
        assert scored["prediction"].tolist() == pytest.approx(from_csv["prediction"].tolist())
        assert scored["prediction"].dtype == "float64"


def test_header_only_parquet_input_writes_an_empty_parquet_output(
    trained: Settings, table: pd.DataFrame, memory_root: str
) -> None:
    input_uri = io.join(memory_root, "input", "empty.parquet")
    io.write_table(input_uri, table.head(0))
    result = predict(trained, input_uri=input_uri, output_uri=f"{input_uri}.out.parquet")
    scored = io.read_table(result.output_uri)
    assert result.rows == 0
    assert scored.empty
    assert list(scored.columns) == list(predictions_contract.columns)


@needs_id
@given(
    ids=st.lists(st.sampled_from([f"C{number}" for number in range(40)]), max_size=120),
    chunk_rows=st.integers(min_value=1, max_value=30),
)
@settings(max_examples=60, deadline=None)
def test_first_record_per_id_keeps_exactly_the_first_of_each(
    ids: list[str], chunk_rows: int
) -> None:
    frame = pd.DataFrame({ID_COLUMN: ids, "row": range(len(ids))})
    unique = FirstRecordPerId()
    kept = [
        unique(frame.iloc[start : start + chunk_rows]) for start in range(0, len(ids), chunk_rows)
    ]

    rows = pd.concat(kept)["row"].tolist() if kept else []
    assert rows == sorted(
        {identifier: row for row, identifier in reversed(list(enumerate(ids)))}.values()
    )
    assert unique.dropped == len(ids) - len(set(ids))
