"""Serving throughput and latency: POST /predict beside GET /health of the same server.

    uv run python benchmarks/serve.py [--duration 5] [--clients 1 16 64]

Trains a model into a temporary folder and starts the service (`serve`, uvicorn) in a
subprocess with a temporary SQLite history, once per `store.history_mode`: durable
(each prediction committed before it is answered, group commit) and background
(answered first, written within a flush interval). Against each server, at each
concurrency, it drives GET /health (the HTTP stack and a shared store check: the
ceiling of this server) and POST /predict with one record per request, and prints
one table: req/s, p50, p99 and /predict's rate as a share of /health's.

HTTP is driven by wrk (`apt-get install wrk`, a C load generator: one keep-alive
connection per client, one wrk thread per core) when it is installed, else by an
httpx client in this process, which competes with the server for CPU (a warning says
so). Below the table: the in-process rate of one-record scoring, the most a server
that called the model once per request could reach.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import sklearn
from threadpoolctl import threadpool_limits

from {{cookiecutter.package_name}} import data
from {{cookiecutter.package_name}}.contracts import TARGET_COLUMN
from {{cookiecutter.package_name}}.datagen import generate
from {{cookiecutter.package_name}}.features import clean_columns, feature_columns
from {{cookiecutter.package_name}}.logs import configure_logging
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.registry import open_registry
from {{cookiecutter.package_name}}.runtime import limit_threads
from {{cookiecutter.package_name}}.serving.schemas import RECORD_COLUMNS
from {{cookiecutter.package_name}}.settings import ENV_PREFIX, load_settings

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


@dataclass(frozen=True)
class Measured:
    rate: float  # requests per second
    p50: float  # milliseconds
    p99: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def from_latencies(count: int, seconds: float, latencies: list[float]) -> Measured:
    return Measured(
        count / seconds, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    )


def in_process(records: list[dict[str, Any]], seconds: float) -> dict[str, float]:
    """One-record scoring per second in this process: the service's path and the pipeline's."""
    settings = load_settings("local")
    model, _ = open_registry(settings).load(settings.env)
    frame = pd.DataFrame(records[:1], columns=RECORD_COLUMNS)
    features = data.add_features(data.apply_cleaning(data.validate_raw(frame)))

    def columns() -> None:
        values = data.columns_from_records(records[:1], RECORD_COLUMNS)
        values |= clean_columns(values)
        model.outputs_columns(values | feature_columns(values))

    def pipeline() -> None:
        model.outputs(features)

    rates = {}
    with threadpool_limits(limits=1):  # as in the service: one thread per native pool
        for name, call in (("columns + matrix encoder", columns), ("sklearn pipeline", pipeline)):
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                call()
                calls += 1
            rates[name] = calls / (time.perf_counter() - start)
    return rates


def _search(pattern: str, text: str) -> re.Match[str]:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return found


def _wrk_ms(output: str, share: str) -> float:
    value, unit = _search(rf"{share}\s+([\d.]+)(us|ms|s)\b", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, clients: int, seconds: float, script: Path | None) -> Measured:
    """Drive `url` with wrk for `seconds` over `clients` keep-alive connections."""
    threads = min(clients, os.cpu_count() or 1)
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    rate = float(_search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return Measured(rate, _wrk_ms(output, "50%"), _wrk_ms(output, "99%"))


async def drive(
    url: str, path: str, bodies: list[dict[str, Any]] | None, clients: int, seconds: float
) -> Measured:
    """`clients` concurrent httpx clients, each on its own connection, for `seconds`."""
    latencies: list[float] = []
    sessions = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(clients)]
    counter: Iterator[int] = iter(range(10**12))

    async def worker(session: httpx.AsyncClient, until: float) -> None:
        while time.perf_counter() < until:
            began = time.perf_counter()
            if bodies is None:
                response = await session.get(path)
            else:
                response = await session.post(path, json=bodies[next(counter) % len(bodies)])
            latencies.append(time.perf_counter() - began)
            response.raise_for_status()

    try:
        warm_up = time.perf_counter() + 0.5
        await asyncio.gather(*(worker(session, warm_up) for session in sessions))
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(worker(session, start + seconds) for session in sessions))
        return from_latencies(len(latencies), time.perf_counter() - start, latencies)
    finally:
        await asyncio.gather(*(session.aclose() for session in sessions))


def measure(
    url: str, clients: int, seconds: float, records: list[dict[str, Any]], work: Path
) -> tuple[Measured, Measured]:
    """GET /health, then POST /predict, at `clients` concurrent clients."""
    if shutil.which("wrk"):
        script = work / "predict.lua"
        return wrk(f"{url}/health", clients, seconds, None), wrk(
            f"{url}/predict", clients, seconds, script
        )
    return (
        asyncio.run(drive(url, "/health", None, clients, seconds)),
        asyncio.run(drive(url, "/predict", records, clients, seconds)),
    )


def serve(env: dict[str, str], mode: str, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mode_env = env | {
        f"{ENV_PREFIX}STORE__URL": f"sqlite:///{work / f'store-{mode}.db'}",
        f"{ENV_PREFIX}STORE__HISTORY_MODE": mode,
    }
    command = [
        sys.executable,
        "-m",
        "{{cookiecutter.package_name}}",
        "serve",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, env=os.environ | mode_env, stderr=subprocess.DEVNULL)
    try:
        wait_until_ready(url)
    except BaseException:
        server.terminate()
        raise
    return server, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    driver = "wrk" if shutil.which("wrk") else "httpx"
    if driver == "httpx":
        print(
            "warning: wrk is not installed (apt-get install wrk); driving HTTP from this"
            " process, which takes CPU from the server: rates below are pessimistic",
            file=sys.stderr,
        )

    rows: list[tuple[str, int, Measured, Measured]] = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = {
            f"{ENV_PREFIX}STORAGE__REGISTRY_URI": str(work / "registry"),
            f"{ENV_PREFIX}STORAGE__REPORTS_URI": str(work / "reports"),
            f"{ENV_PREFIX}LOGGING__LEVEL": "WARNING",
        }
        os.environ.update(env)
        configure_logging("WARNING", "console")
        settings = load_settings("local")
        limit_threads(settings.runtime.threads)
        train(settings)
        table = generate(1000, seed=5).drop(columns=[TARGET_COLUMN])
        records = [
            {str(key): (None if pd.isna(value) else value) for key, value in record.items()}
            for record in table.to_dict("records")
        ]
        bodies = work / "bodies.jsonl"
        bodies.write_text("".join(json.dumps(record) + "\n" for record in records))
        (work / "predict.lua").write_text(WRK_SCRIPT)
        os.environ["BODIES"] = str(bodies)
        rates = in_process(records, seconds=min(args.duration, 3))

        for mode in MODES:
            server, url = serve(env, mode, work)
            try:
                measure(url, max(args.clients), 1, records, work)  # warm-up
                for clients in args.clients:
                    health, predict = measure(url, clients, args.duration, records, work)
                    rows.append((mode, clients, health, predict))
            finally:
                server.terminate()
                server.wait(timeout=30)

    print(f"POST /predict (one record) beside GET /health of the same server ({driver}):")
    print()
    print(
        "| history | clients | /health req/s | p50 ms | p99 ms"
        " | /predict req/s | p50 ms | p99 ms | /predict ÷ /health |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, clients, health, predict in rows:
        print(
            f"| {mode} | {clients} | {health.rate:,.0f} | {health.p50:.2f} | {health.p99:.2f}"
            f" | {predict.rate:,.0f} | {predict.p50:.2f} | {predict.p99:.2f}"
            f" | {predict.rate / health.rate:.2f} |"
        )
    print()
    served = {(mode, clients): predict.rate for mode, clients, _, predict in rows}
    for clients in args.clients:
        durable, background = served["durable", clients], served["background", clients]
        print(
            f"{clients} clients: durable history {durable:,.0f} req/s, background"
            f" {background:,.0f} req/s: durability costs {1 - durable / background:.0%}"
        )
    print()
    for name, rate in rates.items():
        print(f"in process, one record, {name}: {rate:,.0f} calls/s")
    print(f"(scikit-learn {sklearn.__version__}; one thread per native pool)")


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
