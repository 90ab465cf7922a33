"""The HTTP API through FastAPI's TestClient (the app's lifespan runs for each test).

Records come from the contract (the `table` fixture); bad values are derived from it.
"""

import io as stdlib_io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from {{cookiecutter.package_name}}.contracts import (
    CLASSES,
    ID_COLUMN,
    TARGET_COLUMN,
    TASK,
    predictions_contract,
)
from {{cookiecutter.package_name}}.logs import ECHO_LIMIT
from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.settings import ServingSettings, Settings
from {{cookiecutter.package_name}}.store import Store
from tests.conftest import needs_id, no_id
from tests.serving.conftest import (
    an_outcome,
    assert_answer,
    bad_outcome,
    below_minimum,
    columns_of_type,
    entity,
    field_schemas,
    lookup_status,
    nullable_columns,
    out_of_range,
    outside_categories,
    record,
    required_columns,
    wrong_types,
)

# The columns of a batch answer: its prediction id, then the predictions contract's.
ANSWER_COLUMNS = ["prediction_id", *predictions_contract.columns]


def test_health_ready_and_model(client: TestClient, trained_settings: Settings) -> None:
    health = client.get("/health").json()
    assert health == {"status": "ok", "detail": {"store": True, "history_writes_ok": True}}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["detail"] == {"model": True, "batcher": True, "history": True}
    model = client.get("/model").json()
    assert model["name"] == trained_settings.model.name
    assert model["version"] == "v1"
    assert model["alias"] == trained_settings.env
    assert trained_settings.training.metric in model["metrics"]


def test_predict_one_record(client: TestClient, table: pd.DataFrame) -> None:
    response = client.post("/predict", json=record(table))

    assert response.status_code == 200
    (prediction,) = response.json()["predictions"]
    assert_answer(prediction)
    assert prediction["model_version"] == "v1"
    assert len(prediction["prediction_id"]) == 32
    if ID_COLUMN is not None:
        assert prediction[ID_COLUMN] == entity(table)


def test_answers_carry_the_fields_of_the_task(client: TestClient) -> None:
    """Classifiers answer a class and its probability; regression a value and no probability."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    fields = schemas["Prediction"]["properties"]
    history = schemas["HistoryItem"]["properties"]

    assert set(fields) == {"prediction_id", *predictions_contract.columns}
    assert ("probability" in fields) == bool(CLASSES) == ("probability" in history)
    if CLASSES:
        assert fields["prediction"]["enum"] == list(CLASSES)
        assert (fields["probability"]["minimum"], fields["probability"]["maximum"]) == (0, 1)
    else:
        assert fields["prediction"]["type"] == "number"


@pytest.mark.skipif(TASK != "binary", reason="binary: probability of the positive class")
def test_binary_probability_is_the_positive_class(
    client: TestClient, table: pd.DataFrame, trained_settings: Settings
) -> None:
    body = [record(table, row) for row in range(40)]

    predictions = client.post("/predict", json=body).json()["predictions"]

    threshold = trained_settings.model.threshold
    for answer in predictions:
        assert (answer["prediction"] == CLASSES[1]) == (answer["probability"] >= threshold)


def test_predict_a_list_keeps_the_order(client: TestClient, table: pd.DataFrame) -> None:
    body = [record(table, row) for row in range(5)]

    predictions = client.post("/predict", json=body).json()["predictions"]
    one_by_one = [client.post("/predict", json=one).json()["predictions"][0] for one in body]

    assert [p["prediction"] for p in predictions] == [p["prediction"] for p in one_by_one]
    assert len({p["prediction_id"] for p in predictions}) == 5
    if ID_COLUMN is not None:
        assert [p[ID_COLUMN] for p in predictions] == table[ID_COLUMN][:5].tolist()


def test_missing_values_are_accepted_where_the_contract_allows(
    client: TestClient, table: pd.DataFrame
) -> None:
    body = record(table) | dict.fromkeys(nullable_columns())
    assert client.post("/predict", json=body).status_code == 200


BAD_VALUES = (
    out_of_range()[:2]
    + outside_categories()[:1]
    + [(name, "many") for name in columns_of_type("integer")[:1]]
)


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_bad_record_gets_422_naming_the_field(
    client: TestClient, table: pd.DataFrame, field: str, value: object
) -> None:
    response = client.post("/predict", json=record(table) | {field: value})

    assert response.status_code == 422
    assert field in {error["loc"][-1] for error in response.json()["detail"]}


@pytest.mark.parametrize("missing", required_columns()[:1])
def test_unknown_and_missing_fields_are_rejected(
    client: TestClient, table: pd.DataFrame, missing: str
) -> None:
    body = record(table)
    del body[missing]
    unknown = "not_a_column_" + "_".join(body)[:20]
    response = client.post("/predict", json=body | {unknown: 3})
    assert response.status_code == 422
    fields = {error["loc"][-1] for error in response.json()["detail"]}
    assert {missing, unknown} <= fields


@pytest.mark.parametrize(("field", "value"), wrong_types()[:1])
def test_a_bad_record_in_a_list_is_named_by_its_index_and_field(
    client: TestClient, table: pd.DataFrame, field: str, value: object
) -> None:
    body = [record(table, row) for row in range(5)]
    body[3][field] = value

    response = client.post("/predict", json=body)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", 3, field]
    assert error["input"] == value


@pytest.mark.parametrize(("field", "value"), below_minimum()[:1] + outside_categories()[:1])
def test_a_bad_single_record_is_named_by_its_field(
    client: TestClient, table: pd.DataFrame, field: str, value: object
) -> None:
    response = client.post("/predict", json=record(table) | {field: value})

    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field]


def _id_cases() -> list[tuple[str, object]]:
    identity = ID_COLUMN
    if identity is None:
        return []
    return [
        (identity, 12345),
        (identity, "caf\u00e9"),  # ids are ASCII, as the schema's pattern says
        (identity, "C1\n"),
        (identity, "C1\x00"),
    ]


@pytest.mark.parametrize(("field", "value"), wrong_types() + _id_cases())
def test_values_outside_the_schema_are_rejected(
    client: TestClient, table: pd.DataFrame, field: str, value: object
) -> None:
    response = client.post("/predict", json=record(table) | {field: value})

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]


def _json_cases() -> list[tuple[str, str]]:
    """(JSON member, field) pairs Python's parser reads but the schema refuses."""
    numbers, integers = columns_of_type("number"), columns_of_type("integer")
    texts = columns_of_type("string")
    cases = [
        (f"{json.dumps(name)}: {constant}", name)
        for name in numbers[:1]
        for constant in ("NaN", "Infinity", "-Infinity")
    ]
    cases += [(f"{json.dumps(name)}: 1e400", name) for name in numbers[1:2] + integers[:1]]
    cases += [(f'{json.dumps(name)}: "\\ud800"', name) for name in texts[:1]]
    cases += [(f'{json.dumps(name)}: "\\udfff"', name) for name in texts[1:2]]
    return cases


@pytest.mark.parametrize(("raw", "field"), _json_cases())
def test_values_json_cannot_carry_get_a_422_that_it_can(
    client: TestClient, table: pd.DataFrame, raw: str, field: str
) -> None:
    """NaN, infinities and lone surrogates parse, fail validation, and are echoed safely."""
    valid = record(table)
    del valid[field]
    body = json.dumps(valid)[:-1] + ", " + raw + "}"

    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field]
    response.content.decode("utf-8")  # strict UTF-8: nothing a client cannot read


# Fields that refuse a long text: numbers, and text with categories, a pattern or a length.
REFUSING_TEXT = [
    name
    for name, schema in field_schemas().items()
    if schema.get("type") != "string" or {"enum", "pattern", "maxLength"} & set(schema)
]


@pytest.mark.parametrize("field", REFUSING_TEXT[:1])
def test_echoed_values_are_cut_short(client: TestClient, table: pd.DataFrame, field: str) -> None:
    response = client.post("/predict", json=record(table) | {field: "x" * 100_000})

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert len(error["input"]) <= ECHO_LIMIT + 30
    assert len(response.content) < 2_000


ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities included: Python's JSON parser accepts them
    | st.text(),  # lone surrogates included
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def test_any_json_body_gets_a_json_answer(client: TestClient, table: pd.DataFrame) -> None:
    """Every field of a record, replaced by any JSON value: 200 or a 422 naming it."""
    valid = record(table)

    @given(field=st.sampled_from(sorted(valid)), value=JSON_VALUES, as_list=st.booleans())
    @settings(max_examples=150, deadline=None, database=None)
    def answers(field: str, value: Any, as_list: bool) -> None:
        changed = valid | {field: value}
        body = json.dumps([valid, changed] if as_list else changed)  # ensure_ascii: \ud800
        response = client.post(
            "/predict", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code in (200, 422), response.text
        answer = json.loads(response.content.decode("utf-8"), parse_constant=_no_constants)
        if response.status_code == 422:
            located = [error["loc"] for error in answer["detail"]]
            assert located == [["body", 1, field] if as_list else ["body", field]]

    answers()


def _no_constants(name: str) -> float:
    raise AssertionError(f"{name} in a JSON answer")


def test_any_body_shape_gets_a_422(client: TestClient) -> None:
    @given(body=JSON_VALUES.filter(lambda value: not isinstance(value, dict | list) or value == []))
    @settings(max_examples=50, deadline=None, database=None)
    def answers(body: Any) -> None:
        response = client.post(
            "/predict", content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422
        assert [error["loc"] for error in response.json()["detail"]] == [["body"]]

    answers()


def test_ids_are_ascii_and_refused_at_the_edge_otherwise(client: TestClient) -> None:
    """NUL, newlines, non-ASCII, surrogates: 422 before the store sees them (on any database)."""
    ids = st.text(min_size=1, max_size=70) | st.from_regex(ID, fullmatch=True)
    known = lookup_status()

    @given(entity=ids)
    @settings(max_examples=50, deadline=None, database=None)
    def answers(entity: str) -> None:
        valid = ID.fullmatch(entity) is not None
        path = quote(entity, safe="", errors="surrogatepass")
        query = urlencode({"entity_id": entity}, errors="surrogatepass")
        version = urlencode({"model_version": entity}, errors="surrogatepass")
        if "/" not in entity and entity not in {".", ".."}:  # else another route, or none
            assert client.get(f"/predict/{path}").status_code == (known if valid else 422)
        assert client.get(f"/history?{query}").status_code == (200 if valid else 422)
        short = valid and len(entity) <= 32
        assert client.get(f"/history?{version}").status_code == (200 if short else 422)

    answers()


@pytest.mark.parametrize("moment", ["-8424", "1700000000", "1e5"])
def test_history_times_are_dates_not_numbers(client: TestClient, moment: str) -> None:
    """The schema says ISO 8601 text: a number is not read as a Unix time."""
    response = client.get("/history", params={"end": moment})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "end"]


def test_too_many_records_get_413(trained_settings: Settings, table: pd.DataFrame) -> None:
    settings = trained_settings.model_copy(update={"serving": ServingSettings(max_records=3)})
    with TestClient(create_app(settings)) as client:
        body = [record(table, row) for row in range(4)]
        assert client.post("/predict", json=body).status_code == 413
        assert client.post("/predict", json=[]).status_code == 422


def _upload(client: TestClient, frame: pd.DataFrame, output: str = "csv") -> httpx.Response:
    payload = frame.to_csv(index=False).encode()
    response: httpx.Response = client.post(
        f"/predict-batch?format={output}", files={"file": ("upload.csv", payload, "text/csv")}
    )
    return response


def test_predict_batch_answers_csv(client: TestClient, table: pd.DataFrame) -> None:
    response = _upload(client, table)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    ids = {} if ID_COLUMN is None else {ID_COLUMN: str}
    scored = pd.read_csv(stdlib_io.StringIO(response.text), dtype=ids)
    assert list(scored.columns) == ANSWER_COLUMNS
    assert response.headers["x-rows"] == str(len(table))
    if ID_COLUMN is not None:
        assert scored[ID_COLUMN].tolist() == table[ID_COLUMN].tolist()
    for answer in json.loads(scored.to_json(orient="records")):
        assert_answer({name: value for name, value in answer.items() if value is not None})


def test_predict_batch_answers_json(client: TestClient, table: pd.DataFrame) -> None:
    response = _upload(client, table.head(30), output="json")

    assert response.status_code == 200
    scored = json.loads(response.text)
    assert len(scored) == 30
    assert all(list(row) == ANSWER_COLUMNS for row in scored)
    for row in scored:
        assert_answer(row)
    if ID_COLUMN is not None:
        assert [row[ID_COLUMN] for row in scored] == table[ID_COLUMN][:30].tolist()


@pytest.mark.parametrize(("field", "value"), below_minimum()[:1])
def test_predict_batch_reports_contract_violations(
    client: TestClient, table: pd.DataFrame, trained_settings: Settings, field: str, value: Any
) -> None:
    broken = table.copy()
    broken.loc[5, field] = value
    broken.loc[300, field] = value - 1

    response = _upload(client, broken)

    assert response.status_code == 422
    failures = response.json()["failures"]
    assert {(f["row"], f["column"], f["value"]) for f in failures} == {
        (5, field, value),
        (300, field, value - 1),
    }
    assert all(f["check"].startswith("greater_than_or_equal_to(") for f in failures)
    assert Store(trained_settings.store.url).count_predictions() == 0


def test_predict_batch_rejects_a_file_that_is_not_csv(client: TestClient) -> None:
    response = client.post("/predict-batch", files={"file": ("x.csv", b"", "text/csv")})
    assert response.status_code == 422
    assert "empty" in response.json()["detail"]


@pytest.mark.parametrize("output", ["csv", "json"])
def test_predict_batch_refuses_a_file_with_a_header_only(
    client: TestClient, table: pd.DataFrame, output: str
) -> None:
    response = _upload(client, table.head(0), output)

    assert response.status_code == 422
    assert response.json() == {"detail": "the file has a header but no data rows", "failures": []}


def test_predict_batch_answers_any_bytes_with_200_or_422(
    client: TestClient, table: pd.DataFrame
) -> None:
    """Binary, malformed or partial CSV: a 422 saying why, never a server error."""
    header = table.drop(columns=[TARGET_COLUMN]).head(0).to_csv(index=False).encode()

    @given(body=st.binary(max_size=300), with_header=st.booleans())
    @settings(max_examples=60, deadline=None, database=None)
    def answers(body: bytes, with_header: bool) -> None:
        payload = header + body if with_header else body
        response = client.post(
            "/predict-batch", files={"file": ("upload.csv", payload, "text/csv")}
        )
        assert response.status_code in (200, 422), response.text
        if response.status_code == 422:
            assert response.json()["detail"]

    answers()


def test_predict_batch_enforces_the_size_limit(
    trained_settings: Settings, table: pd.DataFrame
) -> None:
    small = table.head(20)
    limit = 2 * len(small.to_csv(index=False)) + 1024  # room for the multipart envelope
    big = pd.concat([table] * (1 + 2 * limit // len(table.to_csv(index=False))))
    serving = ServingSettings(max_upload_mb=limit / 1024 / 1024)
    with TestClient(create_app(trained_settings.model_copy(update={"serving": serving}))) as client:
        response = _upload(client, big)
        assert response.status_code == 413
        assert "max_upload_mb" in response.json()["detail"]
        assert _upload(client, small).status_code == 200


@needs_id
def test_entity_prediction_uses_fresh_online_features(
    scored_settings: Settings, table: pd.DataFrame
) -> None:
    with TestClient(create_app(scored_settings)) as client:
        served = client.get(f"/predict/{entity(table, 3)}").json()
        direct = client.post("/predict", json=record(table, 3)).json()["predictions"][0]

    assert served["source"] == "online-features"
    assert served[ID_COLUMN] == entity(table, 3)
    assert served["prediction"] == direct["prediction"]
    if CLASSES:
        assert served["probability"] == pytest.approx(direct["probability"])


@needs_id
def test_entity_prediction_falls_back_to_batch_then_baseline(
    scored_settings: Settings, table: pd.DataFrame
) -> None:
    batch = Store(scored_settings.store.url).batch_prediction(entity(table, 3))
    assert batch is not None
    stale = ServingSettings(feature_max_age_hours=1e-9)
    with TestClient(create_app(scored_settings.model_copy(update={"serving": stale}))) as client:
        from_batch = client.get(f"/predict/{entity(table, 3)}").json()
        unknown = client.get("/predict/NO-SUCH-ENTITY").json()

    assert from_batch["source"] == "batch"
    assert from_batch["prediction"] == batch.prediction
    assert from_batch.get("probability") == batch.probability
    assert from_batch["model_version"] == "v1"
    assert unknown["source"] == "baseline"
    assert unknown["model_version"] == "baseline"
    assert unknown["as_of"] is None
    assert_answer({key: value for key, value in unknown.items() if value is not None})


@needs_id
def test_the_baseline_is_the_model_cards(scored_settings: Settings, table: pd.DataFrame) -> None:
    """An id without data gets the training target's majority class and share, or mean."""
    with TestClient(create_app(scored_settings)) as client:
        baseline = client.app.state.service.predictor.card.baseline  # type: ignore[attr-defined]
        unknown = client.get("/predict/NO-SUCH-ENTITY").json()

    assert unknown["prediction"] == baseline.prediction
    assert unknown.get("probability") == baseline.probability
    if CLASSES:
        counts = table[TARGET_COLUMN].value_counts(normalize=True)
        assert unknown["prediction"] == counts.idxmax()
        assert unknown["probability"] == pytest.approx(counts.max(), abs=0.1)
    else:
        target = table[TARGET_COLUMN]
        assert abs(unknown["prediction"] - target.mean()) <= target.std() / 2


@no_id
def test_without_an_id_column_entities_cannot_be_looked_up(
    client: TestClient, table: pd.DataFrame
) -> None:
    client.post("/predict", json=record(table))

    response = client.get("/predict/ANY-ID")
    history = client.get("/history").json()

    assert response.status_code == 404
    assert "no id column" in response.json()["detail"]
    assert "--id" in response.json()["detail"]
    assert [item["entity_id"] for item in history["items"]] == [None]


def test_history_filters_and_pages(client: TestClient, table: pd.DataFrame) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    client.post("/predict", json=[record(table, row) for row in range(7)])
    client.post("/predict", json=record(table, 0))

    everything = client.get("/history").json()
    assert everything["total"] == 8
    first = client.get("/history", params={"limit": 5}).json()
    second = client.get("/history", params={"limit": 5, "offset": 5}).json()
    assert first["next_offset"] == 5
    assert second["next_offset"] is None
    items = first["items"] + second["items"]
    assert len({item["prediction_id"] for item in items}) == 8
    for item in items:
        assert_answer(item)

    if ID_COLUMN is not None:
        assert client.get("/history", params={"entity_id": entity(table)}).json()["total"] == 2
    assert client.get("/history", params={"model_version": "v1"}).json()["total"] == 8
    assert client.get("/history", params={"start": before.isoformat()}).json()["total"] == 8
    assert client.get("/history", params={"end": before.isoformat()}).json()["total"] == 0


def test_feedback_for_a_prediction(client: TestClient, table: pd.DataFrame) -> None:
    prediction_id = client.post("/predict", json=record(table)).json()["predictions"][0][
        "prediction_id"
    ]
    outcome = an_outcome(table)

    accepted = client.post("/feedback", json={"prediction_id": prediction_id, "outcome": outcome})
    unknown = client.post("/feedback", json={"prediction_id": "0" * 32, "outcome": outcome})
    invalid = client.post(
        "/feedback", json={"prediction_id": prediction_id, "outcome": bad_outcome()}
    )

    assert accepted.status_code == 200
    assert accepted.json() == {"prediction_id": prediction_id, "outcome": outcome}
    assert unknown.status_code == 404
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"][-1] == "outcome"


def test_metrics_count_requests_and_predictions(
    client: TestClient, table: pd.DataFrame, trained_settings: Settings
) -> None:
    client.post("/predict", json=[record(table, row) for row in range(4)])

    text = client.get("/metrics").text

    assert 'http_requests_total{method="POST",route="/predict",status="200"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
    served = [line for line in text.splitlines() if line.startswith("predictions_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in served) == 4
    labels = f'name="{trained_settings.model.name}",version="v1"'
    assert "model_info{" + labels + "} 1.0" in text


def test_history_is_flushed_on_shutdown(trained_settings: Settings, table: pd.DataFrame) -> None:
    slow = trained_settings.model_copy(
        update={"store": trained_settings.store.model_copy(update={"flush_interval_seconds": 60})}
    )
    with TestClient(create_app(slow)) as client:
        for row in range(10):
            client.post("/predict", json=record(table, row))

    assert Store(trained_settings.store.url).count_predictions() == 10
