"""Prometheus metrics of the service, served at GET /metrics."""

import functools
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..contracts import CLASSES

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)

T = TypeVar("T")
R = TypeVar("R")


class Metrics:
    """The service's collectors, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer HTTP requests.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "predictions",
            "Predictions served, by predicted class (regression: 'value') and source.",
            ["prediction", "source"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "model_batch_size",
            "Records per model call (micro-batching).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.history_pending = Gauge(
            "history_pending_rows",
            "Predictions not yet committed to the store (queued or being written).",
            registry=self.registry,
        )
        self.history_commit_rows = Histogram(
            "history_commit_rows",
            "Predictions per history commit (requests share a commit under load).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.history_failures = Counter(
            "history_write_failures",
            "History commits that failed (durable mode: their requests answered 503).",
            registry=self.registry,
        )
        self.history_refused = Counter(
            "history_refused",
            "Requests refused with 503 because store.history_max_pending rows were waiting.",
            registry=self.registry,
        )
        self.store_up = Gauge(
            "store_up",
            "1 when the prediction store answers and holds its tables, else 0.",
            registry=self.registry,
        )
        self.online_features_rejected = Counter(
            "online_features_rejected",
            "Stored feature rows not scored because they break the model's feature contract.",
            registry=self.registry,
        )
        self.model = Info("model", "The model being served.", registry=self.registry)

    def observe_batches(self, function: Callable[[list[T]], R]) -> Callable[[list[T]], R]:
        """`function`, recording the size of each batch it is called with."""

        @functools.wraps(function)
        def observed(batch: list[T]) -> R:
            self.batch_size.observe(len(batch))
            return function(batch)

        return observed

    def count_predictions(self, predictions: Sequence[object], source: str) -> None:
        """Count predictions by class; regression values are counted under one label."""
        if not CLASSES:
            if predictions:
                self.predictions.labels(prediction="value", source=source).inc(len(predictions))
            return
        for label in CLASSES:
            hits = predictions.count(label)
            if hits:
                self.predictions.labels(prediction=str(label), source=source).inc(hits)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count and time every HTTP request by its route template (not the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(
                time.perf_counter() - start
            )
