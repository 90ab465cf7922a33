"""Serving throughput and latency: the micro-batched /predict against two limits.

    uv run python benchmarks/serve.py [--requests 3000] [--clients 1 16 64]

Trains a model into a temporary folder, starts the service (`serve`, uvicorn) in a
subprocess with a temporary SQLite history, and drives it over HTTP at each
concurrency: POST /predict with one record per request, and GET /health, a bare
endpoint of the same server (the cost of the HTTP stack alone). Beside them, the
in-process rate of `model.predict_proba` on one row: the most a server that calls the
model once per request could reach. The server runs twice, once per
`store.history_mode`: durable (each prediction committed before it is answered, group
commit) and background (answered first, written later); the last table is the
throughput that durability costs.

HTTP is driven by wrk (`apt-get install wrk`) when it is installed, else by an httpx
client in this process, which competes with the server for CPU (a warning says so).
"""

import argparse
import asyncio
import json
import os
import re
import shutil
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
MODES = ("durable", "background")
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/predict", nil, bodies[(counter % #bodies) + 1])
end
"""


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


def _search(pattern: str, text: str) -> re.Match[str]:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return found


def wrk_run(
    url: str, clients: int, seconds: int, script: Path | None
) -> tuple[float, float, float]:
    """Drive `url` with wrk for `seconds`: (req/s, p50 ms, p99 ms)."""
    command = ["wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in output:
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    rate = float(_search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return rate, _wrk_ms(output, "50%"), _wrk_ms(output, "99%")


def _wrk_ms(output: str, share: str) -> float:
    value, unit = _search(rf"{share}\s+([\d.]+)(us|ms|s)\b", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def measure(
    url: str, clients: int, args: argparse.Namespace, records: list[dict[str, Any]], work: Path
) -> tuple[Row, Row]:
    """GET /health and POST /predict at `clients` concurrent clients, with wrk or httpx."""
    if shutil.which("wrk"):
        bodies = work / "bodies.jsonl"
        bodies.write_text("".join(json.dumps(record) + "\n" for record in records))
        script = work / "predict.lua"
        script.write_text(WRK_SCRIPT)
        os.environ["BODIES"] = str(bodies)
        health = wrk_run(f"{url}/health", clients, args.seconds, None)
        predict = wrk_run(f"{url}/predict", clients, args.seconds, script)
        return ("GET /health (bare)", str(clients), *health), (
            "POST /predict",
            str(clients),
            *predict,
        )

    async def post(client: httpx.AsyncClient, number: int) -> httpx.Response:
        return await client.post("/predict", json=records[number % len(records)])

    async def get(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get("/health")

    rows = []
    for name, call in (("GET /health (bare)", get), ("POST /predict", post)):
        rate, latencies = asyncio.run(drive(call, url, clients, args.requests))
        rows.append((name, str(clients), rate, *milliseconds(latencies)))
    return rows[0], rows[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per measurement (wrk)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print(
            "warning: wrk is not installed (apt-get install wrk); driving HTTP from this"
            " process, which takes CPU from the server: rates below are pessimistic",
            file=sys.stderr,
        )

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = {
            f"{ENV_PREFIX}STORAGE__REGISTRY_URI": str(work / "registry"),
            f"{ENV_PREFIX}STORAGE__REPORTS_URI": str(work / "reports"),
            f"{ENV_PREFIX}LOGGING__LEVEL": "WARNING",
        }
        os.environ.update(env)
        configure_logging("WARNING", "console")
        train(load_settings("local"))
        rows = [in_process_rate(env, rounds=args.requests)]

        customers = generate_customers(1000, seed=5).drop(columns=["churned"])
        records = [
            {str(key): (None if pd.isna(value) else value) for key, value in record.items()}
            for record in customers.to_dict("records")
        ]
        served: dict[tuple[str, str], float] = {}
        for mode in MODES:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            mode_env = env | {
                f"{ENV_PREFIX}STORE__URL": f"sqlite:///{work / f'store-{mode}.db'}",
                f"{ENV_PREFIX}STORE__HISTORY_MODE": mode,
            }
            command = [
                sys.executable,
                "-m",
                "{{ cookiecutter.package_name }}",
                "serve",
                "--port",
                str(port),
            ]
            server = subprocess.Popen(command, env=os.environ | mode_env, stderr=subprocess.DEVNULL)
            try:
                wait_until_ready(url)
                for clients in args.clients:
                    health, predict = measure(url, clients, args, records, work)
                    if mode == MODES[0]:
                        rows.append(health)
                    rows.append((f"{predict[0]}, {mode} history", *predict[1:]))
                    served[mode, predict[1]] = predict[2]
            finally:
                server.terminate()
                server.wait(timeout=30)

    print("| measurement | clients | req/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for name, clients, rate, p50, p99 in rows:
        print(f"| {name} | {clients} | {rate:,.0f} | {p50:.1f} | {p99:.1f} |")
    baseline = rows[0][2]
    print()
    print("| clients | durable req/s | background req/s | cost of durability | x one-row rate |")
    print("|---:|---:|---:|---:|---:|")
    for clients in map(str, args.clients):
        durable, background = served["durable", clients], served["background", clients]
        cost = 1 - durable / background
        print(
            f"| {clients} | {durable:,.0f} | {background:,.0f} | {cost:.1%}"
            f" | {durable / baseline:.2f}x |"
        )


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
