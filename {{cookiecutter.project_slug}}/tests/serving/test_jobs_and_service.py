"""The service and the batch jobs on one store: sequences users run, not one feature alone."""

import functools
import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaError, SchemaErrors
from sqlalchemy.engine import Connection, Engine

from {{cookiecutter.package_name}} import data
from {{cookiecutter.package_name}}.contracts import (
    FEATURE_COLUMNS,
    TARGET_COLUMN,
    allowed_values,
    features_contract,
    is_text,
)
from {{cookiecutter.package_name}}.datagen import generate
from {{cookiecutter.package_name}}.pipelines.monitor import monitor
from {{cookiecutter.package_name}}.pipelines.predict import PredictResult, predict
from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.serving.predictor import feature_contract_violation
from {{cookiecutter.package_name}}.settings import Settings
from {{cookiecutter.package_name}}.store import Store, json_records, online_features
from tests.conftest import needs_id
from tests.serving.conftest import (
    an_outcome,
    another_outcome,
    entity,
    lookup_status,
    record,
)
from tests.serving.test_durability import metric, wait_until


@needs_id
def test_monitor_runs_after_an_entity_lookup(
    scored_settings: Settings, table: pd.DataFrame
) -> None:
    """GET /predict/{id} logs a prediction without features; monitor reads past it."""
    with TestClient(create_app(scored_settings)) as client:
        assert client.get(f"/predict/{entity(table, 1)}").status_code == 200
        unknown = client.get("/predict/NO-SUCH-ENTITY")
        assert unknown.status_code == lookup_status()

    report = monitor(scored_settings)

    assert report.recent_rows == len(table)


def test_feedback_keeps_the_first_outcome(client: TestClient, table: pd.DataFrame) -> None:
    prediction_id = client.post("/predict", json=record(table)).json()["predictions"][0][
        "prediction_id"
    ]
    outcome, different = an_outcome(table), another_outcome(table)

    first = client.post("/feedback", json={"prediction_id": prediction_id, "outcome": outcome})
    again = client.post("/feedback", json={"prediction_id": prediction_id, "outcome": outcome})
    other = client.post("/feedback", json={"prediction_id": prediction_id, "outcome": different})

    assert first.status_code == again.status_code == 200
    assert again.json() == {"prediction_id": prediction_id, "outcome": outcome}
    assert other.status_code == 409
    assert other.json()["outcome"] == outcome
    assert other.json()["prediction_id"] == prediction_id
    assert f"already has outcome {outcome}" in other.json()["detail"]
    schema = client.get("/openapi.json").json()["paths"]["/feedback"]["post"]["responses"]
    assert {"200", "404", "409", "422"} <= set(schema)


def _replace_stored_features(url: str, entity: str, change: dict[str, object]) -> None:
    """Rewrite one entity's stored features (as an older job would have left them)."""
    store = Store(url)
    with store.transaction() as connection:
        connection.execute(
            sa.update(online_features).where(online_features.c.entity_id == entity).values(change)
        )
    store.close()


def _broken_features() -> list[tuple[str, object]]:
    """(feature, value) the features contract refuses: one missing, one out of range, one
    outside its categories, where the contract has such columns."""
    columns = {name: features_contract.columns[name] for name in FEATURE_COLUMNS}
    required = [(name, None) for name, column in columns.items() if not column.nullable]
    below = [
        (name, check.statistics["min_value"] - 1)
        for name, column in columns.items()
        for check in column.checks
        if check.name == "greater_than_or_equal_to"
    ]
    outside = [
        (name, "not-" + "-".join(map(str, allowed_values(column) or ())))
        for name, column in columns.items()
        if is_text(column) and allowed_values(column) is not None
    ]
    return required[:1] + below[:1] + outside[:1]


@needs_id
@pytest.mark.parametrize(("name", "value"), _broken_features())
def test_stored_features_that_break_the_model_contract_are_not_scored(
    scored_settings: Settings, table: pd.DataFrame, name: str, value: object
) -> None:
    _replace_stored_features(scored_settings.store.url, entity(table, 4), {name: value})

    with TestClient(create_app(scored_settings)) as client:
        answer = client.get(f"/predict/{entity(table, 4)}").json()
        rejected = metric(client, "online_features_rejected_total")
        fresh = client.get(f"/predict/{entity(table, 5)}").json()

    assert answer["source"] == "batch"
    assert f"features contract in {name}" in answer["reason"]
    assert rejected == 1
    assert fresh["source"] == "online-features"
    assert fresh["reason"] is None


@functools.cache
def _valid_features() -> dict[str, object]:
    """The features of one generated record, as the online feature table holds them."""
    features = data.build_features(data.clean(generate(1, seed=3)))
    return json_records(features[list(FEATURE_COLUMNS)])[0]


CATEGORIES = sorted(
    {
        str(value)
        for name in FEATURE_COLUMNS
        for value in allowed_values(features_contract.columns[name]) or ()
    }
)


@given(
    name=st.sampled_from(FEATURE_COLUMNS),
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),  # what JSON can hold
        st.sampled_from([*CATEGORIES, "12", "-1"]),
        st.text(max_size=12),
    ),
)
@settings(max_examples=100, deadline=None)
def test_feature_contract_check_agrees_with_the_features_contract(name: str, value: object) -> None:
    """Any value in any feature: never accepted where the Pandera features contract fails.

    (The check is stricter than the contract's coercion, which truncates 1.5 to 1.)
    """
    features = _valid_features() | {name: value}
    contract = features_contract.select_columns(list(FEATURE_COLUMNS))
    contract.coerce = True
    try:
        contract.validate(pd.DataFrame.from_records([features], columns=FEATURE_COLUMNS))
        expected = None
    except (SchemaError, SchemaErrors):
        expected = name

    reason = feature_contract_violation(features, list(FEATURE_COLUMNS))

    if expected is not None:
        assert reason is not None
    if reason is not None:
        assert name in reason


@needs_id
def test_service_answers_while_a_predict_job_writes(
    trained_settings: Settings, table: pd.DataFrame, tmp_path: Path
) -> None:
    """The job commits chunk by chunk. Paused after its first chunk (when it begins the
    next transaction), /feedback and /history answer 200 and a reader sees the entities
    of the committed chunk updated and the others not yet."""
    rows, chunk_rows = 3_000, 1_000
    frame = generate(rows, seed=11).drop(columns=[TARGET_COLUMN])
    source = tmp_path / "records.csv"
    frame.to_csv(source, index=False)
    data_settings = trained_settings.data.model_copy(
        update={
            "predict_input_uri": str(source),
            "predictions_uri": str(tmp_path / "predictions.csv"),
            "chunk_rows": chunk_rows,
        }
    )
    settings = trained_settings.model_copy(update={"data": data_settings})
    first, last = entity(frame, 0), entity(frame, rows - 1)
    reader = Store(settings.store.url)
    paused, resume = threading.Event(), threading.Event()
    outcome: list[PredictResult | BaseException] = []

    def job() -> None:
        try:
            outcome.append(predict(settings))
        except BaseException as error:
            outcome.append(error)
        finally:
            paused.set()

    worker = threading.Thread(target=job)

    def pause_after_first_chunk(connection: Connection) -> None:
        # The job writes each chunk from a thread of its own ("predict-writer").
        thread = threading.current_thread()
        if paused.is_set() or not (thread is worker or thread.name.startswith("predict-writer")):
            return
        if connection.engine is reader.engine:  # the check below begins a transaction too
            return
        if reader.batch_prediction(first) is not None:
            paused.set()
            resume.wait(timeout=120)

    sa.event.listen(Engine, "begin", pause_after_first_chunk)
    try:
        with TestClient(create_app(settings)) as client:
            answer = client.post("/predict", json=record(table)).json()
            prediction_id = answer["predictions"][0]["prediction_id"]
            worker.start()
            wait_until(paused.is_set, "the job commits its first chunk")
            running = worker.is_alive()
            feedback = client.post(
                "/feedback", json={"prediction_id": prediction_id, "outcome": an_outcome(table)}
            )
            history = client.get("/history", params={"limit": 1})
            written, unwritten = reader.batch_prediction(first), reader.batch_prediction(last)
            resume.set()
            worker.join(timeout=120)
    finally:
        sa.event.remove(Engine, "begin", pause_after_first_chunk)
        resume.set()

    assert running, f"the job ended in one transaction: {outcome}"
    assert feedback.status_code == 200
    assert history.status_code == 200
    assert written is not None
    assert unwritten is None
    assert isinstance(outcome[0], PredictResult), outcome
    assert reader.batch_prediction(last) is not None
    reader.close()
