import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.pipelines.predict import FirstRecordPerId, predict
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.registry import ModelNotFoundError
from {{cookiecutter.package_name}}.settings import Settings


def test_predict_scores_every_row_in_chunks(
    memory_settings: Settings, customers: pd.DataFrame
) -> None:
    version = train(memory_settings).card.version
    result = predict(memory_settings)

    scored = io.read_table(result.output_uri)
    assert result.rows == len(customers) == len(scored)
    assert memory_settings.data.chunk_rows < len(customers)
    assert scored["customer_id"].tolist() == customers["customer_id"].tolist()
    assert set(scored["prediction"]) <= {0, 1}
    assert scored["probability"].between(0, 1).all()
    assert set(scored["model_version"]) == {f"v{version}"}


def test_contract_violation_writes_no_output(
    memory_settings: Settings, customers: pd.DataFrame, memory_root: str
) -> None:
    train(memory_settings)
    broken = customers.drop(columns=["churned"])
    broken.loc[350, "tenure_months"] = -1
    input_uri = io.join(memory_root, "input", "broken.csv")
    io.write_table(input_uri, broken)

    with pytest.raises(SchemaErrors):
        predict(memory_settings, input_uri=input_uri)
    assert not io.exists(memory_settings.data.predictions_uri)


def test_predict_needs_a_trained_model(memory_settings: Settings) -> None:
    with pytest.raises(ModelNotFoundError, match="alias 'test'"):
        predict(memory_settings)


def test_duplicate_ids_are_dropped_across_chunks_and_counted(
    memory_settings: Settings, customers: pd.DataFrame, memory_root: str
) -> None:
    train(memory_settings)
    later = customers.head(5).assign(support_calls=9)
    doubled = pd.concat([customers, later, customers.iloc[[10]]], ignore_index=True)
    input_uri = io.join(memory_root, "input", "doubled.csv")
    io.write_table(input_uri, doubled)

    result = predict(memory_settings, input_uri=input_uri)

    scored = io.read_table(result.output_uri)
    assert memory_settings.data.chunk_rows < len(customers)
    assert scored["customer_id"].tolist() == customers["customer_id"].tolist()
    assert result.duplicates == 6
    assert result.rows == len(customers)


def test_header_only_input_writes_a_header_only_output(
    memory_settings: Settings, customers: pd.DataFrame, memory_root: str
) -> None:
    train(memory_settings)
    input_uri = io.join(memory_root, "input", "empty.csv")
    io.write_table(input_uri, customers.head(0))
    result = predict(memory_settings, input_uri=input_uri)
    assert result.rows == 0
    assert io.read_table(result.output_uri).empty


@pytest.mark.parametrize(("source", "target"), [("parquet", "parquet"), ("csv", "parquet")])
def test_parquet_input_and_output_match_csv(
    memory_settings: Settings, customers: pd.DataFrame, memory_root: str, source: str, target: str
) -> None:
    train(memory_settings)
    input_uri = io.join(memory_root, "input", f"customers.{source}")
    io.write_table(input_uri, customers.drop(columns=["churned"]))
    from_csv = io.read_table(predict(memory_settings).output_uri)

    output_uri = io.join(memory_root, "output", f"scored.{target}")
    result = predict(memory_settings, input_uri=input_uri, output_uri=output_uri)

    assert io.read_bytes(output_uri)[:4] == b"PAR1"
    scored = io.read_table(output_uri)
    assert result.rows == len(customers)
    assert scored["customer_id"].tolist() == from_csv["customer_id"].tolist()
    assert scored["prediction"].tolist() == from_csv["prediction"].tolist()
    assert scored["probability"].tolist() == pytest.approx(from_csv["probability"].tolist())
    assert scored["probability"].dtype == "float64"


def test_header_only_parquet_input_writes_an_empty_parquet_output(
    memory_settings: Settings, customers: pd.DataFrame, memory_root: str
) -> None:
    train(memory_settings)
    input_uri = io.join(memory_root, "input", "empty.parquet")
    io.write_table(input_uri, customers.head(0))
    result = predict(memory_settings, input_uri=input_uri, output_uri=f"{input_uri}.out.parquet")
    scored = io.read_table(result.output_uri)
    assert result.rows == 0
    assert scored.empty
    assert list(scored.columns) == ["customer_id", "prediction", "probability", "model_version"]


@given(
    ids=st.lists(st.sampled_from([f"C{number}" for number in range(40)]), max_size=120),
    chunk_rows=st.integers(min_value=1, max_value=30),
)
@settings(max_examples=60, deadline=None)
def test_first_record_per_id_keeps_exactly_the_first_of_each(
    ids: list[str], chunk_rows: int
) -> None:
    frame = pd.DataFrame({"customer_id": ids, "row": range(len(ids))})
    unique = FirstRecordPerId()
    kept = [
        unique(frame.iloc[start : start + chunk_rows]) for start in range(0, len(ids), chunk_rows)
    ]

    rows = pd.concat(kept)["row"].tolist() if kept else []
    assert rows == sorted(
        {identifier: row for row, identifier in reversed(list(enumerate(ids)))}.values()
    )
    assert unique.dropped == len(ids) - len(set(ids))
