"""Helpers of the deep layer: what a rendered project says about its table, and its service.

``dataset_constants`` reads the constants of ``src/<pkg>/dataset.py`` (task, id and
target columns, sample) without importing the project; ``serving`` runs ``make serve``
on a free port; ``check_answer`` holds one answered prediction to what the task
promises a client (a label and its probability, or a number without one).
"""

from __future__ import annotations

import ast
import contextlib
import csv
import json
import os
import re
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
from conftest import BakedProject, project_env

# How long a starting server may take to answer /health (import, model load, store).
SERVER_START_TIMEOUT = 120.0
# What include_notebooks=yes adds to the dependencies.
NOTEBOOK_PACKAGES = ("ipykernel", "nbclient", "nbconvert", "nbformat", "nbstripout")
# The constants of dataset.py every layer reads.
DATASET_CONSTANTS = ("TASK", "ID_COLUMN", "TARGET_COLUMN", "SAMPLE_URI")


def deep_env(project: BakedProject) -> dict[str, str]:
    """A user's environment (``project_env``) with the project's native pools at 1 thread.

    ``make test`` runs two deep tests at once on CI's two CPUs, beside each other's
    servers: a project sizing OpenMP and BLAS from the CPU quota would start two threads
    per process and spin them against the other test's (the project's own test suite
    ran 20% faster with one, under more load). ``runtime.threads`` is the project's
    setting for that case; its unit tests cover the quota path.
    """
    prefix = project.answers["package_name"].upper()
    return project_env() | {f"{prefix}_RUNTIME__THREADS": "1"}


def dataset_constants(project: BakedProject) -> dict[str, str | None]:
    """TASK, ID_COLUMN, TARGET_COLUMN and SAMPLE_URI as src/<pkg>/dataset.py sets them."""
    path = project.path / "src" / project.answers["package_name"] / "dataset.py"
    found: dict[str, str | None] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        else:
            continue
        if name in DATASET_CONSTANTS and isinstance(value, ast.Constant):
            found[name] = value.value
    missing = [name for name in DATASET_CONSTANTS if name not in found]
    assert not missing, f"{path} does not set {missing} to a literal"
    return found


def local_config(project: BakedProject) -> dict:
    return yaml.safe_load((project.path / "configs" / "local.yaml").read_text())


def local_path(project: BakedProject, uri: str) -> Path:
    path = Path(uri.removeprefix("file://"))
    return path if path.is_absolute() else project.path / path


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def json_value(text: str) -> object:
    """A CSV cell as the JSON value an API client would send."""
    if text == "":
        return None
    for parse in (int, float):
        with contextlib.suppress(ValueError):
            return parse(text)
    return text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(url: str, body: object | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


@contextlib.contextmanager
def serving(project: BakedProject, env: dict[str, str]) -> Iterator[str]:
    """``make serve`` on a free port; yields the base URL once /health answers."""
    port = free_port()
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
                if request(f"{base}/health")[0] == 200:
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


def check_answer(
    answer: dict, record: dict, dataset: dict[str, str | None], labels: set[object]
) -> None:
    """One answered prediction as the task promises it to a client.

    Classifiers answer one of the target's ``labels`` and its probability; regression
    answers a number and no probability. The id of the record comes back.
    """
    id_column = dataset["ID_COLUMN"]
    if id_column is not None:
        assert answer[id_column] == record[id_column], answer
    prediction = answer["prediction"]
    if dataset["TASK"] == "regression":
        assert isinstance(prediction, int | float) and not isinstance(prediction, bool), answer
        assert answer.get("probability") is None, f"regression answered a probability: {answer}"
    else:
        assert prediction in labels, f"{prediction!r} is not one of the labels {labels}"
        assert 0.0 <= answer["probability"] <= 1.0, answer


def check_no_notebook_tooling(project: BakedProject) -> None:
    """An include_notebooks=no project names no notebook, package or hook (nor uv.lock)."""
    leftovers = [
        name
        for name in ("notebooks", "reports", "scripts/notebooks_to_html.py")
        if (project.path / name).exists()
    ]
    assert not leftovers
    assert not any(name.endswith(".ipynb") for name in project.files())
    for name in (
        "pyproject.toml",
        "uv.lock",
        ".pre-commit-config.yaml",
        "Makefile",
        "README.md",
        ".gitignore",
    ):
        if name == "uv.lock" and not (project.path / name).exists():
            continue  # written by make install
        text = (project.path / name).read_text(encoding="utf-8").lower()
        found = [word for word in (*NOTEBOOK_PACKAGES, "notebook", "ipynb") if word in text]
        assert not found, f"{name} still mentions {found}"
        assert name != "uv.lock" or "jupyter" not in text


def notebook_with_outputs(*sources: str) -> str:
    """A notebook as Jupyter saves it after a run (stale outputs, execution counts)."""
    cells = [{"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Test"}]
    for count, source in enumerate(sources, start=1):
        cells.append(
            {
                "cell_type": "code",
                "execution_count": count,
                "id": f"code-{count}",
                "metadata": {"ExecuteTime": {"end_time": "2024-01-01T00:00:00Z"}},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": "stale\n"}],
                "source": source,
            }
        )
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1) + "\n"


def status(project: BakedProject, env: dict[str, str]) -> str:
    """``git status`` of the project, untracked files one by one."""
    return project.run("git status --porcelain --untracked-files=all", env=env).stdout


def check_notebook_commits(project: BakedProject, env: dict[str, str]) -> None:
    """The notebook commit workflow of an include_notebooks=yes project, committed clean.

    A notebook committed with outputs is run, reported and stripped (the commit stops
    once); one that raises is refused with its cell and error named; the shipped
    example executes with the project's package and embeds its plot.
    """
    env = env | {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    assert status(project, env) == "", "the notebook workflow starts from a clean tree"
    # A notebook committed with outputs: run, reported, stripped; the commit stops once.
    notebook = project.path / "notebooks" / "study" / "answer.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(notebook_with_outputs("print(6 * 7)"), encoding="utf-8")
    project.run("git add -A", env=env)
    first = project.run(["git", "commit", "-m", "answer"], env=env, check=False)
    assert first.returncode != 0
    assert "stage them and commit again" in first.stdout + first.stderr
    report = project.path / "reports" / "notebooks" / "study" / "answer.html"
    assert "42" in report.read_text(encoding="utf-8")
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    assert all(not cell.get("outputs") and not cell.get("execution_count") for cell in cells)

    project.run("git add -A", env=env)
    project.run(["git", "commit", "-m", "answer"], env=env)
    assert status(project, env) == ""

    # A notebook that raises: commit refused, cell and error named, nothing written.
    broken = project.path / "notebooks" / "broken.ipynb"
    broken.write_text(
        notebook_with_outputs("limit = 3", 'raise RuntimeError(f"limit {limit} exceeded")'),
        encoding="utf-8",
    )
    before = broken.read_bytes()
    project.run("git add -A", env=env)
    refused = project.run(["git", "commit", "-m", "broken"], env=env, check=False)
    message = refused.stdout + refused.stderr
    assert refused.returncode != 0
    expected = "notebooks/broken.ipynb: cell 3 raised RuntimeError: limit 3 exceeded"
    assert expected in message, message
    assert not (project.path / "reports" / "notebooks" / "broken.html").exists()
    assert broken.read_bytes() == before
    project.run("git reset -q --hard HEAD", env=env)

    # The shipped example executes with the project's package and makes its plot.
    project.run("make notebooks", env=env)
    html = (project.path / "reports" / "notebooks" / "explore.html").read_text(encoding="utf-8")
    assert re.search(r'<img [^>]*src="data:image/png;base64,', html), "the plot is embedded"
    assert status(project, env).split() == ["??", "reports/notebooks/explore.html"]
