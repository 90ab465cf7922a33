"""The HTTP API through FastAPI's TestClient (the app's lifespan runs for each test)."""

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

from {{cookiecutter.package_name}}.logs import ECHO_LIMIT
from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.settings import ServingSettings, Settings
from {{cookiecutter.package_name}}.store import Store
from tests.serving.conftest import record


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
    assert 0.5 < model["metrics"]["roc_auc"] <= 1


def test_predict_one_record(client: TestClient, customers: pd.DataFrame) -> None:
    response = client.post("/predict", json=record(customers))

    assert response.status_code == 200
    (prediction,) = response.json()["predictions"]
    assert prediction["customer_id"] == customers.at[0, "customer_id"]
    assert prediction["prediction"] in (0, 1)
    assert 0 <= prediction["probability"] <= 1
    assert prediction["model_version"] == "v1"
    assert len(prediction["prediction_id"]) == 32


def test_predict_a_list_keeps_the_order(client: TestClient, customers: pd.DataFrame) -> None:
    body = [record(customers, row) for row in range(5)]

    predictions = client.post("/predict", json=body).json()["predictions"]

    assert [p["customer_id"] for p in predictions] == customers["customer_id"][:5].tolist()
    assert len({p["prediction_id"] for p in predictions}) == 5


def test_missing_values_are_accepted_where_the_contract_allows(
    client: TestClient, customers: pd.DataFrame
) -> None:
    body = record(customers) | {"monthly_charges": None, "payment_method": None}
    assert client.post("/predict", json=body).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("tenure_months", -1), ("contract", "lifetime"), ("support_calls", "many")],
)
def test_bad_record_gets_422_naming_the_field(
    client: TestClient, customers: pd.DataFrame, field: str, value: object
) -> None:
    response = client.post("/predict", json=record(customers) | {field: value})

    assert response.status_code == 422
    assert field in {error["loc"][-1] for error in response.json()["detail"]}


def test_unknown_and_missing_fields_are_rejected(
    client: TestClient, customers: pd.DataFrame
) -> None:
    body = record(customers)
    del body["tenure_months"]
    response = client.post("/predict", json=body | {"tenure": 3})
    assert response.status_code == 422
    fields = {error["loc"][-1] for error in response.json()["detail"]}
    assert {"tenure_months", "tenure"} <= fields


def test_a_bad_record_in_a_list_is_named_by_its_index_and_field(
    client: TestClient, customers: pd.DataFrame
) -> None:
    body = [record(customers, row) for row in range(5)]
    body[3]["tenure_months"] = "three"

    response = client.post("/predict", json=body)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", 3, "tenure_months"]
    assert error["input"] == "three"


def test_a_bad_single_record_is_named_by_its_field(
    client: TestClient, customers: pd.DataFrame
) -> None:
    response = client.post("/predict", json=record(customers) | {"support_calls": -1})

    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "support_calls"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tenure_months", True),  # a boolean is not an integer
        ("tenure_months", "12"),  # nor is a string of digits
        ("monthly_charges", "12.5"),
        ("customer_id", 12345),
        ("customer_id", "caf\u00e9"),  # ids are ASCII, as the schema's pattern says
        ("customer_id", "C1\n"),
        ("customer_id", "C1\x00"),
    ],
)
def test_values_outside_the_schema_are_rejected(
    client: TestClient, customers: pd.DataFrame, field: str, value: object
) -> None:
    response = client.post("/predict", json=record(customers) | {field: value})

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('"monthly_charges": NaN', "monthly_charges"),
        ('"monthly_charges": Infinity', "monthly_charges"),
        ('"monthly_charges": -Infinity', "monthly_charges"),
        ('"total_charges": 1e400', "total_charges"),
        ('"tenure_months": 1e400', "tenure_months"),
        ('"customer_id": "\\ud800"', "customer_id"),
        ('"contract": "\\udfff"', "contract"),
    ],
)
def test_values_json_cannot_carry_get_a_422_that_it_can(
    client: TestClient, customers: pd.DataFrame, raw: str, field: str
) -> None:
    """NaN, infinities and lone surrogates parse, fail validation, and are echoed safely."""
    valid = record(customers)
    del valid[field]
    body = json.dumps(valid)[:-1] + ", " + raw + "}"

    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field]
    response.content.decode("utf-8")  # strict UTF-8: nothing a client cannot read


def test_echoed_values_are_cut_short(client: TestClient, customers: pd.DataFrame) -> None:
    response = client.post("/predict", json=record(customers) | {"contract": "x" * 100_000})

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


def test_any_json_body_gets_a_json_answer(client: TestClient, customers: pd.DataFrame) -> None:
    """Every field of a record, replaced by any JSON value: 200 or a 422 naming it."""
    valid = record(customers)

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

    @given(entity=ids)
    @settings(max_examples=50, deadline=None, database=None)
    def answers(entity: str) -> None:
        valid = ID.fullmatch(entity) is not None
        path = quote(entity, safe="", errors="surrogatepass")
        query = urlencode({"entity_id": entity}, errors="surrogatepass")
        version = urlencode({"model_version": entity}, errors="surrogatepass")
        if "/" not in entity and entity not in {".", ".."}:  # else another route, or none
            assert client.get(f"/predict/{path}").status_code == (200 if valid else 422)
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


def test_too_many_records_get_413(trained_settings: Settings, customers: pd.DataFrame) -> None:
    settings = trained_settings.model_copy(update={"serving": ServingSettings(max_records=3)})
    with TestClient(create_app(settings)) as client:
        body = [record(customers, row) for row in range(4)]
        assert client.post("/predict", json=body).status_code == 413
        assert client.post("/predict", json=[]).status_code == 422


def _upload(client: TestClient, frame: pd.DataFrame, output: str = "csv") -> httpx.Response:
    payload = frame.to_csv(index=False).encode()
    response: httpx.Response = client.post(
        f"/predict-batch?format={output}", files={"file": ("customers.csv", payload, "text/csv")}
    )
    return response


def test_predict_batch_answers_csv(client: TestClient, customers: pd.DataFrame) -> None:
    response = _upload(client, customers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    scored = pd.read_csv(stdlib_io.StringIO(response.text))
    assert scored["customer_id"].tolist() == customers["customer_id"].tolist()
    assert list(scored.columns) == [
        "prediction_id",
        "customer_id",
        "prediction",
        "probability",
        "model_version",
    ]
    assert response.headers["x-rows"] == str(len(customers))


def test_predict_batch_answers_json(client: TestClient, customers: pd.DataFrame) -> None:
    response = _upload(client, customers.head(30), output="json")

    assert response.status_code == 200
    scored = json.loads(response.text)
    assert [row["customer_id"] for row in scored] == customers["customer_id"][:30].tolist()


def test_predict_batch_reports_contract_violations(
    client: TestClient, customers: pd.DataFrame, trained_settings: Settings
) -> None:
    broken = customers.copy()
    broken.loc[5, "tenure_months"] = -3
    broken.loc[300, "support_calls"] = -1

    response = _upload(client, broken)

    assert response.status_code == 422
    failures = response.json()["failures"]
    assert {(f["row"], f["column"], f["value"]) for f in failures} == {
        (5, "tenure_months", -3),
        (300, "support_calls", -1),
    }
    assert all(f["check"] == "greater_than_or_equal_to(0)" for f in failures)
    assert Store(trained_settings.store.url).count_predictions() == 0


def test_predict_batch_rejects_a_file_that_is_not_csv(client: TestClient) -> None:
    response = client.post("/predict-batch", files={"file": ("x.csv", b"", "text/csv")})
    assert response.status_code == 422
    assert "empty" in response.json()["detail"]


@pytest.mark.parametrize("output", ["csv", "json"])
def test_predict_batch_refuses_a_file_with_a_header_only(
    client: TestClient, customers: pd.DataFrame, output: str
) -> None:
    response = _upload(client, customers.head(0), output)

    assert response.status_code == 422
    assert response.json() == {"detail": "the file has a header but no data rows", "failures": []}


def test_predict_batch_answers_any_bytes_with_200_or_422(client: TestClient) -> None:
    """Binary, malformed or partial CSV: a 422 saying why, never a server error."""
    header = b"customer_id,tenure_months,monthly_charges,total_charges,contract,"
    header += b"payment_method,internet_service,support_calls\n"

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
    trained_settings: Settings, customers: pd.DataFrame
) -> None:
    settings = trained_settings.model_copy(update={"serving": ServingSettings(max_upload_mb=0.01)})
    with TestClient(create_app(settings)) as client:
        response = _upload(client, customers)
        assert response.status_code == 413
        assert "max_upload_mb" in response.json()["detail"]
        assert _upload(client, customers.head(20)).status_code == 200


def test_entity_prediction_uses_fresh_online_features(
    scored_settings: Settings, customers: pd.DataFrame
) -> None:
    entity = str(customers.at[3, "customer_id"])
    with TestClient(create_app(scored_settings)) as client:
        served = client.get(f"/predict/{entity}").json()
        direct = client.post("/predict", json=record(customers, 3)).json()["predictions"][0]

    assert served["source"] == "online-features"
    assert served["customer_id"] == entity
    assert served["probability"] == pytest.approx(direct["probability"])


def test_entity_prediction_falls_back_to_batch_then_baseline(
    scored_settings: Settings, customers: pd.DataFrame
) -> None:
    entity = str(customers.at[3, "customer_id"])
    batch = Store(scored_settings.store.url).batch_prediction(entity)
    assert batch is not None
    stale = ServingSettings(feature_max_age_hours=1e-9, baseline_probability=0.25)
    with TestClient(create_app(scored_settings.model_copy(update={"serving": stale}))) as client:
        from_batch = client.get(f"/predict/{entity}").json()
        unknown = client.get("/predict/NO-SUCH-CUSTOMER").json()

    assert from_batch["source"] == "batch"
    assert from_batch["probability"] == pytest.approx(batch.probability)
    assert from_batch["model_version"] == "v1"
    assert unknown["source"] == "baseline"
    assert unknown["probability"] == 0.25
    assert unknown["prediction"] == 0
    assert unknown["as_of"] is None


def test_history_filters_and_pages(client: TestClient, customers: pd.DataFrame) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    client.post("/predict", json=[record(customers, row) for row in range(7)])
    client.get(f"/predict/{customers.at[0, 'customer_id']!s}")

    everything = client.get("/history").json()
    assert everything["total"] == 8
    first = client.get("/history", params={"limit": 5}).json()
    second = client.get("/history", params={"limit": 5, "offset": 5}).json()
    assert first["next_offset"] == 5
    assert second["next_offset"] is None
    ids = [item["prediction_id"] for item in first["items"] + second["items"]]
    assert len(set(ids)) == 8

    entity = str(customers.at[0, "customer_id"])
    assert client.get("/history", params={"entity_id": entity}).json()["total"] == 2
    assert client.get("/history", params={"model_version": "v1"}).json()["total"] == 7
    assert client.get("/history", params={"start": before.isoformat()}).json()["total"] == 8
    assert client.get("/history", params={"end": before.isoformat()}).json()["total"] == 0


def test_feedback_for_a_prediction(client: TestClient, customers: pd.DataFrame) -> None:
    prediction_id = client.post("/predict", json=record(customers)).json()["predictions"][0][
        "prediction_id"
    ]

    accepted = client.post("/feedback", json={"prediction_id": prediction_id, "outcome": 1})
    unknown = client.post("/feedback", json={"prediction_id": "0" * 32, "outcome": 1})
    invalid = client.post("/feedback", json={"prediction_id": prediction_id, "outcome": 2})

    assert accepted.status_code == 200
    assert accepted.json() == {"prediction_id": prediction_id, "outcome": 1}
    assert unknown.status_code == 404
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"][-1] == "outcome"


def test_metrics_count_requests_and_predictions(
    client: TestClient, customers: pd.DataFrame
) -> None:
    client.post("/predict", json=[record(customers, row) for row in range(4)])

    text = client.get("/metrics").text

    assert 'http_requests_total{method="POST",route="/predict",status="200"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
    served = [line for line in text.splitlines() if line.startswith("predictions_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in served) == 4
    assert 'model_info{name="churn-classifier",version="v1"} 1.0' in text


def test_history_is_flushed_on_shutdown(
    trained_settings: Settings, customers: pd.DataFrame
) -> None:
    slow = trained_settings.model_copy(
        update={"store": trained_settings.store.model_copy(update={"flush_interval_seconds": 60})}
    )
    with TestClient(create_app(slow)) as client:
        for row in range(10):
            client.post("/predict", json=record(customers, row))

    assert Store(trained_settings.store.url).count_predictions() == 10
