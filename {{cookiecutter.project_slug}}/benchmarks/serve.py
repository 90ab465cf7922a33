"""Serving throughput and latency: the micro-batched /predict against two limits.

    uv run python benchmarks/serve.py [--requests 3000] [--clients 1 16 64]

Trains a model into a temporary folder, starts the service (`serve`, uvicorn) in a
subprocess with a temporary SQLite history, and drives it over HTTP with httpx (async)
at each concurrency: POST /predict with one record per request, and GET /health, a bare
endpoint of the same server (the cost of the HTTP stack alone). Beside them, the
in-process rate of `model.predict_proba` on one row: the most a server that calls the
model once per request could reach.
"""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from {{cookiecutter.package_name}} import data
from {{cookiecutter.package_name}}.datagen import generate_customers
from {{cookiecutter.package_name}}.logs import configure_logging
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.registry import Registry
from {{cookiecutter.package_name}}.settings import ENV_PREFIX, load_settings

Row = tuple[str, str, float, float, float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def in_process_rate(env: dict[str, str], rounds: int) -> Row:
    """One-row `predict_proba` calls per second, in this process."""
    os.environ.update(env)
    settings = load_settings("local")
    model, _ = Registry(settings.storage.registry_uri, settings.model.name).load(settings.env)
    raw = generate_customers(1, seed=1).drop(columns=["churned"])
    features = data.add_features(data.apply_cleaning(raw))
    for _ in range(20):
        model.predict_proba(features)
    latencies = []
    start = time.perf_counter()
    for _ in range(rounds):
        began = time.perf_counter()
        model.predict_proba(features)
        latencies.append(time.perf_counter() - began)
    rate = rounds / (time.perf_counter() - start)
    return ("in-process predict_proba, 1 row", "-", rate, *milliseconds(latencies))


def milliseconds(latencies: list[float]) -> tuple[float, float]:
    return percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000


async def drive(
    call: Callable[[httpx.AsyncClient, int], Coroutine[Any, Any, httpx.Response]],
    url: str,
    clients: int,
    requests: int,
) -> tuple[float, list[float]]:
    """`requests` calls spread over `clients` concurrent clients: (req/s, latencies).

    Each client has its own connection, like separate callers (one shared httpx pool
    serving many concurrent requests costs the benchmark more CPU than the server).
    """
    latencies: list[float] = []
    counter = iter(range(requests))
    sessions = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(clients)]

    async def worker(session: httpx.AsyncClient, numbers: Iterator[int]) -> None:
        for number in numbers:
            began = time.perf_counter()
            response = await call(session, number)
            latencies.append(time.perf_counter() - began)
            response.raise_for_status()

    try:
        # Warm-up: every client opens its connection and makes a few calls.
        await asyncio.gather(*(worker(session, iter(range(5))) for session in sessions))
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(worker(session, counter) for session in sessions))
        return requests / (time.perf_counter() - start), latencies
    finally:
        await asyncio.gather(*(session.aclose() for session in sessions))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = {
            f"{ENV_PREFIX}STORAGE__REGISTRY_URI": str(work / "registry"),
            f"{ENV_PREFIX}STORAGE__REPORTS_URI": str(work / "reports"),
            f"{ENV_PREFIX}STORE__URL": f"sqlite:///{work / 'store.db'}",
            f"{ENV_PREFIX}LOGGING__LEVEL": "WARNING",
        }
        os.environ.update(env)
        configure_logging("WARNING", "console")
        train(load_settings("local"))
        rows = [in_process_rate(env, rounds=args.requests)]

        customers = generate_customers(1000, seed=5).drop(columns=["churned"])
        records = [
            {key: (None if pd.isna(value) else value) for key, value in record.items()}
            for record in customers.to_dict("records")
        ]

        async def predict(client: httpx.AsyncClient, number: int) -> httpx.Response:
            return await client.post("/predict", json=records[number % len(records)])

        async def health(client: httpx.AsyncClient, _: int) -> httpx.Response:
            return await client.get("/health")

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}",
            "serve",
            "--port",
            str(port),
        ]
        server = subprocess.Popen(command, env=os.environ | env, stderr=subprocess.DEVNULL)
        try:
            wait_until_ready(url)
            for name, call in (("GET /health (bare)", health), ("POST /predict", predict)):
                for clients in args.clients:
                    rate, latencies = asyncio.run(drive(call, url, clients, args.requests))
                    rows.append((name, str(clients), rate, *milliseconds(latencies)))
        finally:
            server.terminate()
            server.wait(timeout=30)

    print("| measurement | clients | req/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for name, clients, rate, p50, p99 in rows:
        print(f"| {name} | {clients} | {rate:,.0f} | {p50:.1f} | {p99:.1f} |")
    baseline = rows[0][2]
    served = {clients: rate for name, clients, rate, _, _ in rows if name == "POST /predict"}
    for clients, rate in served.items():
        print(f"POST /predict at {clients} clients: {rate / baseline:.2f}x the one-row rate")


def wait_until_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not become ready within {timeout} s")


if __name__ == "__main__":
    main()
