"""Batch scoring on Ray Data: the same predictions as the local engine, row for row.

The tests share the session's local Ray runtime (two CPUs, no dashboard: tests/conftest.py);
the input lives in files, which Ray's worker processes read themselves.
"""

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from pandera.errors import SchemaErrors

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.contracts import ID_COLUMN, TARGET_COLUMN, describe_violation
from {{cookiecutter.package_name}}.pipelines import predict as local
from {{cookiecutter.package_name}}.pipelines import predict_ray
from {{cookiecutter.package_name}}.settings import ComputeSettings, Settings
from tests.conftest import refused_values
from tests.pipelines.test_predict import assert_scored


@pytest.fixture
def trained(memory_settings: Settings, registry_uri: str, tmp_path: Path) -> Settings:
    """A trained model, small batches, and files where Ray workers can read them."""
    storage = memory_settings.storage.model_copy(update={"registry_uri": registry_uri})
    data = memory_settings.data.model_copy(
        update={"chunk_rows": 90, "predictions_uri": str(tmp_path / "predictions.csv")}
    )
    return memory_settings.model_copy(update={"storage": storage, "data": data})


def with_duplicates(table: pd.DataFrame) -> pd.DataFrame:
    """The table, then some of its ids again (in other batches and the same), no label."""
    again = [table.head(5), table.iloc[[10, 200]], table.tail(1)]
    repeated = pd.concat([table, *again], ignore_index=True)
    return repeated.drop(columns=[TARGET_COLUMN])


def stored_predictions(settings: Settings) -> pd.DataFrame:
    engine = sa.create_engine(settings.store.url)
    with engine.connect() as connection:
        query = "SELECT entity_id, prediction, model_version FROM batch_predictions"
        stored = pd.read_sql(sa.text(query), connection)
    engine.dispose()
    return stored.sort_values("entity_id").reset_index(drop=True)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_ray_predictions_equal_the_local_engine_row_for_row(
    trained: Settings, table: pd.DataFrame, tmp_path: Path, kind: str
) -> None:
    input_uri = str(tmp_path / f"input.{kind}")
    io.write_table(input_uri, with_duplicates(table))

    on_ray = predict_ray.predict(trained, input_uri, str(tmp_path / "ray.csv"))
    from_ray = io.read_table(on_ray.output_uri)
    in_store = stored_predictions(trained) if ID_COLUMN is not None else None
    here = local.predict(trained, input_uri, str(tmp_path / "local.csv"))
    from_local = io.read_table(here.output_uri)

    assert len(from_local) == len(table) > 2 * trained.data.chunk_rows
    pd.testing.assert_frame_equal(from_ray, from_local)
    assert (on_ray.rows, on_ray.duplicates) == (here.rows, here.duplicates)
    assert_scored(from_ray, f"v{on_ray.model_version}")
    assert sum(on_ray.nodes.values()) == len(with_duplicates(table))
    if ID_COLUMN is not None:
        assert on_ray.duplicates == 8
        assert in_store is not None
        expected = from_ray.rename(columns={ID_COLUMN: "entity_id"})[list(in_store.columns)]
        expected = expected.astype({"entity_id": str}).sort_values("entity_id")
        pd.testing.assert_frame_equal(in_store, expected.reset_index(drop=True), check_dtype=False)


def test_a_contract_violation_in_a_later_batch_stops_the_job_and_leaves_no_output(
    trained: Settings, table: pd.DataFrame, tmp_path: Path
) -> None:
    name, value = next(iter(refused_values().items()))
    broken = table.drop(columns=[TARGET_COLUMN]).astype(object)
    broken.at[300, name] = value
    input_uri = str(tmp_path / "broken.csv")
    io.write_table(input_uri, broken)

    with pytest.raises(SchemaErrors) as failure:
        predict_ray.predict(trained, input_uri)

    report = describe_violation(failure.value)
    assert repr(name) in report
    if ID_COLUMN is not None:
        assert str(broken.at[300, ID_COLUMN]) in report
    assert not Path(trained.data.predictions_uri).exists()
    assert list(tmp_path.glob("*.partial")) == []


def test_a_header_only_input_gives_a_header_only_output(
    trained: Settings, table: pd.DataFrame, tmp_path: Path
) -> None:
    input_uri = str(tmp_path / "empty.csv")
    io.write_table(input_uri, table.head(0))
    result = predict_ray.predict(trained, input_uri)
    assert result.rows == 0
    assert io.read_table(result.output_uri).empty


def test_input_only_this_process_can_read_is_refused(
    trained: Settings, table: pd.DataFrame, memory_root: str
) -> None:
    input_uri = io.join(memory_root, "input.csv")
    io.write_table(input_uri, table)
    with pytest.raises(predict_ray.DistributedInputError, match="memory://"):
        predict_ray.predict(trained, input_uri)
    assert not Path(trained.data.predictions_uri).exists()


def test_ray_address_wins_over_the_settings(
    trained: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert predict_ray.cluster_address(trained) is None
    configured = trained.model_copy(update={"compute": ComputeSettings(address="ray-head:6379")})
    assert predict_ray.cluster_address(configured) == "ray-head:6379"
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6380")
    assert predict_ray.cluster_address(configured) == "127.0.0.1:6380"
