"""Deep layer: a rendered project installs, passes its own checks and does its job.

For each variant in ``variants.DEEP`` (the default, a maximal one, and one per
prediction_store, cloud, serving and task value) this runs the project's stable make
interface the way a new user would, with a clean environment (not this dev env's
virtualenv): ``make install``, the first ``git commit`` of everything through the
project's own pre-commit hooks (``uv.lock`` included, nothing skipped), in ``default``
the notebook commit workflow, ``make check``,
``make train``, ``make predict``, then ``make docs`` when the project has a docs site,
and with serving on, ``make serve`` on a free port answering a real HTTP request over a
socket. Uses the shared uv cache, so only
the first run downloads packages: a minute or two per variant with a warm cache.
"""

from __future__ import annotations

import shutil
import time

import pytest
from conftest import BakedProject, bake_project
from variants import DEEP, VARIANTS
from workflow import (
    check_answer,
    check_no_notebook_tooling,
    check_notebook_commits,
    csv_rows,
    dataset_constants,
    deep_env,
    json_value,
    local_config,
    local_path,
    request,
    serving,
)

pytestmark = pytest.mark.deep


def check_serving(project: BakedProject, env: dict[str, str], rows: list[dict[str, str]]) -> None:
    """POST /predict answers a record as the task promises; the answer reaches /history."""
    dataset = dataset_constants(project)
    target = dataset["TARGET_COLUMN"]
    labels = {json_value(row[target]) for row in rows if row.get(target)}
    record = {key: json_value(value) for key, value in rows[0].items() if key != target}
    with serving(project, env) as base:
        status, body = request(f"{base}/predict", record)
        assert status == 200, f"POST /predict answered {status}: {body}"
        assert isinstance(body, dict)
        (prediction,) = body["predictions"]
        check_answer(prediction, record, dataset, labels)

        number = next(
            key
            for key, value in record.items()
            if isinstance(value, int | float) and key != dataset["ID_COLUMN"]
        )
        status, body = request(f"{base}/predict", record | {number: "many"})
        assert status == 422, f"an invalid record was answered with {status}: {body}"

        # The prediction reaches the history (written in the background).
        deadline = time.monotonic() + 30
        ids: list[str] = []
        while prediction["prediction_id"] not in ids and time.monotonic() < deadline:
            status, page = request(f"{base}/history?limit=100")
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
    env = deep_env(project)

    project.run(["make", "install"], env=env)
    if answers["include_notebooks"] == "no":
        check_no_notebook_tooling(project)
    _first_commit(project, env)
    if variant == "default":
        check_notebook_commits(project, env)
    for target in ("check", "train", "predict"):
        project.run(["make", target], env=env)

    data = local_config(project)["data"]
    predictions = csv_rows(local_path(project, data["predictions_uri"]))
    scored = csv_rows(local_path(project, data["predict_input_uri"]))
    assert len(predictions) == len(scored), "make predict did not score every input row"

    if answers["docs"] == "mkdocs":
        docs = project.run(["make", "docs"], env=env)
        assert (project.path / "site" / "index.html").is_file()
        assert "end of life" not in docs.stdout + docs.stderr, "make docs prints the notice"

    if answers["serving"] == "fastapi":
        check_serving(project, env, scored)

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
