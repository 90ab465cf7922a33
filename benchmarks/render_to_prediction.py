"""Template timings: render time, and time from `cookiecutter` to the first prediction.

Usage (from the template root, inside its dev environment):

    uv run python benchmarks/render_to_prediction.py [--renders 5] [--no-serve]

Prints one table. Phase times depend on the uv cache: the first run on a machine
downloads wheels, later runs reuse them (the usual case for a user's second project).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]


def user_env() -> dict[str, str]:
    """The caller's environment without this dev env's virtualenv."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    return env


def render(output: Path) -> Path:
    return Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output)))


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_served_prediction(project: Path, env: dict[str, str]) -> float:
    """Seconds from `make serve` to the first successful POST /predict."""
    port = free_port()
    record = next(csv.DictReader((project / "data/sample/customers.csv").open()))
    record.pop("churned", None)
    body = json.dumps(record).encode()
    start = time.perf_counter()
    server = subprocess.Popen(
        ["make", "serve", f"PORT={port}"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = start + 120
        while time.perf_counter() < deadline:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predict",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("no prediction served within 120 s")
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=5)
    parser.add_argument("--no-serve", action="store_true")
    args = parser.parse_args()
    env = user_env()
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        durations = []
        for index in range(args.renders):
            start = time.perf_counter()
            render(Path(tmp) / f"render-{index}")
            durations.append(time.perf_counter() - start)
        rows.append((f"render (median of {args.renders})", statistics.median(durations)))

        start = time.perf_counter()
        project = render(Path(tmp) / "workflow")
        rows.append(("render", time.perf_counter() - start))
        for target in ("install", "train", "predict"):
            rows.append((f"make {target}", timed(["make", target], project, env)))
        rows.append(("render → first prediction file", sum(t for _, t in rows[1:])))
        serving = project / "src" / project.name.replace("-", "_") / "serving"
        if not args.no_serve and serving.is_dir():
            served = first_served_prediction(project, env)
            rows.append(("make serve → first served prediction", served))

    width = max(len(name) for name, _ in rows)
    print(f"{'phase':<{width}}  seconds")
    print(f"{'-' * width}  -------")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.2f}")


if __name__ == "__main__":
    main()
