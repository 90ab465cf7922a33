"""Request limits: body size (413 before parsing) and request rate (429 with Retry-After)."""

import json

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.serving.limits import TokenBuckets
from {{cookiecutter.package_name}}.serving.schemas import RECORD_COLUMNS
from {{cookiecutter.package_name}}.settings import ServingSettings, Settings
from tests.serving.conftest import (
    ADMIN_KEY,
    PREDICT_KEY,
    SECURED_BODY_BYTES,
    SECURED_UPLOAD_BYTES,
    Server,
    bearer,
    raw_request,
    record,
)

AUTHORIZATION = f"Authorization: Bearer {ADMIN_KEY}\r\n".encode()
MULTIPART_START = (
    b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
    b"Content-Type: text/csv\r\n\r\n" + ",".join(RECORD_COLUMNS[:2]).encode() + b"\r\n"
)


def chunked(total: int, size: int = 4096) -> bytes:
    """`total` bytes of a chunked body, without its final chunk (the client keeps sending)."""
    chunk = b"1," * (size // 2)
    return b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(total // size))


@pytest.mark.parametrize(
    ("path", "content_type", "setting"),
    [
        ("/predict", "application/json", "serving.max_body_mb"),
        ("/feedback", "application/json", "serving.max_body_mb"),
        ("/predict-batch", "multipart/form-data; boundary=x", "serving.max_upload_mb"),
    ],
)
def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    secured_server: Server, path: str, content_type: str, setting: str
) -> None:
    """101 MB announced, a few bytes sent: 413 on the headers alone."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {101 * 1024 * 1024}\r\n"
    ).encode()
    status, body = raw_request(secured_server, head + AUTHORIZATION + b"\r\n", b"[{")

    assert status == 413
    assert setting in json.loads(body)["detail"]


@pytest.mark.parametrize(
    ("path", "content_type", "start", "limit"),
    [
        ("/predict", "application/json", b"", SECURED_BODY_BYTES),
        (
            "/predict-batch",
            "multipart/form-data; boundary=x",
            MULTIPART_START,
            SECURED_UPLOAD_BYTES,
        ),
    ],
)
def test_a_streamed_body_is_cut_off_at_the_limit(
    secured_server: Server, path: str, content_type: str, start: bytes, limit: int
) -> None:
    """No Content-Length (chunked): refused once the bytes received pass the limit."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\n"
    ).encode()
    first = f"{len(start):x}\r\n".encode() + start + b"\r\n" if start else b""

    status, body = raw_request(
        secured_server, head + AUTHORIZATION + b"\r\n", first + chunked(limit + 8192)
    )

    assert status == 413
    assert "larger than" in json.loads(body)["detail"]
    assert httpx.get(f"{secured_server.url}/health").status_code == 200


def test_bodies_within_the_limits_are_served(secured_server: Server, sample: pd.DataFrame) -> None:
    # As many records as fit well within the body limit, a file just over it.
    rows = min(100, SECURED_BODY_BYTES // (2 * len(json.dumps(record(sample)))))
    records = [record(sample, row) for row in range(max(rows, 1))]
    one_copy = sample.to_csv(index=False).encode()
    copies = 1 + SECURED_BODY_BYTES // len(one_copy)
    upload = pd.concat([sample] * copies).to_csv(index=False).encode()
    assert len(json.dumps(records)) < SECURED_BODY_BYTES < len(upload) < SECURED_UPLOAD_BYTES
    with httpx.Client(base_url=secured_server.url, headers=bearer(PREDICT_KEY)) as client:
        assert client.post("/predict", json=records).status_code == 200
        files = {"file": ("records.csv", upload, "text/csv")}
        assert client.post("/predict-batch", files=files).status_code == 200


def test_the_json_limit_applies_to_every_route(
    trained_settings: Settings, table: pd.DataFrame
) -> None:
    serving = ServingSettings(max_body_mb=0.001)  # 1 KB
    with TestClient(create_app(trained_settings.model_copy(update={"serving": serving}))) as client:
        big = [record(table, row) for row in range(20)]
        assert client.post("/predict", json=big).status_code == 413
        padded = {"prediction_id": "0" * 32, "outcome": 1, "note": "y" * 2000}
        assert client.post("/feedback", json=padded).status_code == 413
        assert client.request("GET", "/history", content=b"x" * 2000).status_code == 413
        assert client.post("/predict", json=record(table)).status_code == 200


def test_over_the_rate_a_caller_gets_429_with_retry_after(
    secured_settings: Settings, table: pd.DataFrame
) -> None:
    slow = ServingSettings(rate_limit_per_second=0.01, rate_limit_burst=2)
    with TestClient(create_app(secured_settings.model_copy(update={"serving": slow}))) as client:
        answers = [
            client.post("/predict", json=record(table), headers=bearer(PREDICT_KEY))
            for _ in range(3)
        ]
        other_key = client.get("/history", headers=bearer(ADMIN_KEY))
        probes = [client.get("/health").status_code for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert 1 <= int(answers[2].headers["retry-after"]) <= 100
    assert "rate_limit_per_second" in answers[2].json()["detail"]
    assert other_key.status_code == 200  # each key has a bucket of its own
    assert probes == [200] * 5  # probes are never limited


def test_without_keys_the_rate_is_per_address(
    trained_settings: Settings, table: pd.DataFrame
) -> None:
    slow = ServingSettings(rate_limit_per_second=0.01, rate_limit_burst=1)
    with TestClient(create_app(trained_settings.model_copy(update={"serving": slow}))) as client:
        first = client.post("/predict", json=record(table))
        invented_key = client.post("/predict", json=record(table), headers=bearer("x" * 20))

    assert (first.status_code, invented_key.status_code) == (200, 429)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(
    rate=st.floats(0.1, 100),
    burst=st.integers(1, 20),
    steps=st.lists(st.tuples(st.floats(0, 5), st.sampled_from("ab")), max_size=60),
)
@settings(max_examples=100, deadline=None)
def test_token_buckets_grant_at_most_burst_plus_rate(
    rate: float, burst: int, steps: list[tuple[float, str]]
) -> None:
    clock = Clock()
    buckets = TokenBuckets(rate, burst, clock=clock)
    granted = {"a": 0, "b": 0}
    for pause, caller in steps:
        clock.now += pause
        wait = buckets.take(caller)
        if wait == 0:
            granted[caller] += 1
        else:  # the wait it announces is enough, and needed
            assert wait <= 1 / rate + 1e-9
    for caller in granted:
        assert granted[caller] <= burst + rate * clock.now + 1e-6


def test_a_refused_caller_is_served_after_the_announced_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=1, clock=clock)
    assert buckets.take("a") == 0
    wait = buckets.take("a")
    assert wait == pytest.approx(0.5)
    clock.now += wait
    assert buckets.take("a") == 0


def test_token_buckets_forget_the_oldest_callers() -> None:
    buckets = TokenBuckets(rate=1, burst=1, max_callers=3, clock=Clock())
    for caller in "abcd":
        buckets.take(caller)
    assert list(buckets.buckets) == ["b", "c", "d"]
