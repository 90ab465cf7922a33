"""Deep layer: a rendered project installs, passes its own checks and does its job.

For each variant in ``variants.DEEP`` (the default, a maximal one, and one per
prediction_store, cloud and serving value) this runs the project's stable make
interface the way a new user would, with a clean environment (not this dev env's
virtualenv): ``make install``, the first ``git commit`` of everything through the
project's own pre-commit hooks (``uv.lock`` included, nothing skipped), ``make check``,
``make train``, ``make predict``, then ``make docs`` when the project has a docs site,
and with serving on, ``make serve`` on a free port answering a real HTTP request over a
socket. Uses the shared uv cache, so only
the first run downloads packages: a minute or two per variant with a warm cache.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import BakedProject, bake_project, project_env
from variants import DEEP, VARIANTS

pytestmark = pytest.mark.deep

# How long a starting server may take to answer /health (import, model load, store).
SERVER_START_TIMEOUT = 120.0
TARGET_COLUMN = "churned"


def _local_path(project: BakedProject, uri: str) -> Path:
    path = Path(uri.removeprefix("file://"))
    return path if path.is_absolute() else project.path / path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _json_value(text: str) -> object:
    """A CSV cell as the JSON value an API client would send."""
    if text == "":
        return None
    for parse in (int, float):
        with contextlib.suppress(ValueError):
            return parse(text)
    return text


def _request(url: str, body: object | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


@contextlib.contextmanager
def _serving(project: BakedProject, env: dict[str, str]) -> Iterator[str]:
    """``make serve`` on a free port; yields the base URL once /health answers."""
    port = _free_port()
    log = project.path / "artifacts" / "serve.log"  # artifacts/ is git-ignored
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        server = subprocess.Popen(
            ["make", "serve", f"PORT={port}"],
            cwd=project.path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, uv and uvicorn
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"make serve exited {server.returncode}:\n{log.read_text()}")
            with contextlib.suppress(OSError):
                if _request(f"{base}/health")[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"make serve did not answer /health:\n{log.read_text()}")
            time.sleep(0.5)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _check_serving(project: BakedProject, env: dict[str, str], record: dict) -> None:
    with _serving(project, env) as base:
        status, body = _request(f"{base}/predict", record)
        assert status == 200, f"POST /predict answered {status}: {body}"
        assert isinstance(body, dict)
        (prediction,) = body["predictions"]
        assert prediction["customer_id"] == record["customer_id"]
        assert prediction["prediction"] in {0, 1}
        assert 0.0 <= prediction["probability"] <= 1.0

        invalid = record | {"tenure_months": "many"}
        status, body = _request(f"{base}/predict", invalid)
        assert status == 422, f"an invalid record was answered with {status}: {body}"

        # The prediction reaches the history (written in the background).
        deadline = time.monotonic() + 30
        ids: list[str] = []
        while prediction["prediction_id"] not in ids and time.monotonic() < deadline:
            status, page = _request(f"{base}/history?limit=100")
            assert status == 200, f"GET /history answered {status}: {page}"
            assert isinstance(page, dict)
            ids = [item["prediction_id"] for item in page["items"]]
            time.sleep(0.5)
        assert prediction["prediction_id"] in ids, "the prediction is missing from /history"


def _first_commit(project: BakedProject, env: dict[str, str]) -> None:
    """``git add -A && git commit`` as a new user makes it: every hook runs, none skipped."""
    identity = {
        "GIT_AUTHOR_NAME": "Jane Doe",
        "GIT_AUTHOR_EMAIL": "jane.doe@example.com",
        "GIT_COMMITTER_NAME": "Jane Doe",
        "GIT_COMMITTER_EMAIL": "jane.doe@example.com",
    }
    env = {k: v for k, v in env.items() if k != "SKIP"} | identity
    project.run(["git", "add", "-A"], env=env)
    project.run(["git", "commit", "-q", "-m", "Project from ml-template"], env=env)
    status = project.run(["git", "status", "--porcelain"], env=env).stdout
    assert not status, f"the hooks changed files during the first commit:\n{status}"
    committed = project.run(["git", "ls-files"], env=env).stdout.splitlines()
    assert "uv.lock" in committed


@pytest.mark.parametrize("variant", DEEP)
def test_install_check_and_run_the_workflow(cookies, variant):
    project = bake_project(cookies, **VARIANTS[variant])
    answers = project.answers
    env = project_env()

    project.run(["make", "install"], env=env)
    _first_commit(project, env)
    for target in ("check", "train", "predict"):
        project.run(["make", target], env=env)

    config = yaml.safe_load((project.path / "configs" / "local.yaml").read_text())
    data = config["data"]
    predictions = _rows(_local_path(project, data["predictions_uri"]))
    scored = _rows(_local_path(project, data["predict_input_uri"]))
    assert len(predictions) == len(scored), "make predict did not score every input row"

    if answers["docs"] == "mkdocs":
        docs = project.run(["make", "docs"], env=env)
        assert (project.path / "site" / "index.html").is_file()
        assert "end of life" not in docs.stdout + docs.stderr, "make docs prints the notice"

    if answers["serving"] == "fastapi":
        record = {
            key: _json_value(value) for key, value in scored[0].items() if key != TARGET_COLUMN
        }
        _check_serving(project, env, record)

    if variant == "default":
        _check_benchmarks(project, env)


def _check_benchmarks(project: BakedProject, env: dict[str, str]) -> None:
    """The README's benchmarks run and print their tables (small sizes: CI is no bench)."""
    batch = project.run(
        ["uv", "run", "python", "benchmarks/batch.py", "--rows", "3000", "6000"], env=env
    ).stdout
    for input_format in ("csv", "parquet"):
        rows = [
            cells
            for cells in map(str.split, batch.splitlines())
            if len(cells) > 2 and cells[0].isdigit() and cells[1] == input_format
        ]
        assert [row[0] for row in rows] == ["3000", "6000"], batch
        assert all(float(row[2]) > 0 and float(row[3]) > 0 for row in rows), batch
    serve = project.run(
        ["uv", "run", "python", "benchmarks/serve.py", "--duration", "1", "--clients", "1", "4"],
        env=env,
    ).stdout
    rows = [line for line in serve.splitlines() if line.startswith(("| durable", "| background"))]
    assert len(rows) == 4, serve
    assert all(float(row.split("|")[6].replace(",", "")) > 0 for row in rows), serve
    if shutil.which("wrk"):  # .ci/run installs it; elsewhere the httpx fallback is fine
        assert "(wrk)" in serve, serve
