"""Deep layer: compute=ray scores on a real two-node Ray cluster, as the local engine does.

A rendered project (compute=ray) is installed and trained; a Ray head and a worker node
start from its virtualenv as separate processes on this machine (`ray start --head`,
`ray start --address`, two logical CPUs each, a temporary folder of their own, a fresh
token for Ray's token authentication, loopback only). `predict` attaches to the cluster
through RAY_ADDRESS and must give the local engine's output byte for byte on an input
with repeated ids, with both nodes scoring part of it; how the rows split across the
nodes is printed (pytest -s shows it). The nodes are stopped by process group at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
from conftest import BakedProject, bake_project
from workflow import deep_env, free_port

pytestmark = pytest.mark.deep

# A lean project: the engine is what this test is about.
ANSWERS = {
    "compute": "ray",
    "serving": "none",
    "docs": "none",
    "include_notebooks": "no",
    "ci": "none",
    "scheduler": "none",
}
ROWS = 40_000
REPEATED = 150  # the first rows again at the end: their ids were scored already
CHUNK_ROWS = 4_000
NODE_START_TIMEOUT = 90.0


def ray_env(project: BakedProject) -> dict[str, str]:
    """The user's environment, with Ray kept off the network and its token set."""
    return deep_env(project) | {
        "RAY_USAGE_STATS_ENABLED": "0",
        "DO_NOT_TRACK": "1",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }


def start_node(project: BakedProject, env: dict[str, str], *args: str) -> subprocess.Popen:
    """`ray start ... --block` from the project's virtualenv, in its own process group."""
    log = project.path / "artifacts" / f"ray-{'head' if '--head' in args else 'worker'}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        return subprocess.Popen(
            [str(project.path / ".venv" / "bin" / "ray"), "start", *args, "--block"],
            cwd=project.path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_node(node: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGTERM)
    try:
        node.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        node.wait()


def alive_nodes(project: BakedProject, env: dict[str, str], address: str) -> int:
    status = project.run(
        [str(project.path / ".venv" / "bin" / "ray"), "status", "--address", address],
        env=env,
        check=False,
    )
    return len(re.findall(r"^\s*1 node_[0-9a-f]+", status.stdout, re.MULTILINE))


@contextlib.contextmanager
def two_node_cluster(project: BakedProject, env: dict[str, str]) -> Iterator[str]:
    """A head and a worker node on loopback; yields the address to attach to."""
    port = free_port()  # an ephemeral port, outside the range Ray gives its workers
    address = f"127.0.0.1:{port}"
    # A short folder: Ray's unix sockets live in it (a path of at most 107 bytes).
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    common = ["--num-cpus", "2", "--node-ip-address", "127.0.0.1"]
    nodes = [
        start_node(
            project,
            env,
            "--head",
            "--port",
            str(port),
            "--temp-dir",
            temp_dir,
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
            *common,
        )
    ]
    try:
        deadline = time.monotonic() + NODE_START_TIMEOUT
        while alive_nodes(project, env, address) < 1:
            assert nodes[0].poll() is None, (project.path / "artifacts/ray-head.log").read_text()
            assert time.monotonic() < deadline, "the Ray head did not start"
            time.sleep(1)
        nodes.append(start_node(project, env, "--address", address, *common))
        while alive_nodes(project, env, address) < 2:
            worker_log = project.path / "artifacts/ray-worker.log"
            assert nodes[1].poll() is None, worker_log.read_text()
            assert time.monotonic() < deadline, "the Ray worker node did not join"
            time.sleep(1)
        yield address
    finally:
        for node in reversed(nodes):
            stop_node(node)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_predict_on_a_two_node_cluster_equals_the_local_engine(cookies) -> None:
    project = bake_project(cookies, **ANSWERS)
    package = project.answers["package_name"]
    env = ray_env(project) | {f"{package.upper()}_DATA__CHUNK_ROWS": str(CHUNK_ROWS)}
    project.run(["make", "install"], env=env)
    # The Ray variant's own checks: lint, strict types, dependencies, and the tests of the
    # engine and of the commands that run it (on the session's local Ray runtime).
    project.run(["make", "lint", "typecheck", "deps"], env=env)
    project.run(
        ["uv", "run", "--frozen", "pytest", "-q", "tests/pipelines", "tests/test_cli.py"], env=env
    )
    project.run(["make", "train"], env=env)

    work = project.path / "artifacts" / "cluster"
    work.mkdir(parents=True)
    records = work / "records.csv"
    cli = ["uv", "run", "--frozen", package]
    project.run(
        [*cli, "generate", "--rows", str(ROWS), "--no-label", "--output", str(records)], env=env
    )
    lines = records.read_text().splitlines(keepends=True)
    records.write_text("".join([*lines, *lines[1 : REPEATED + 1]]))

    with two_node_cluster(project, env) as address:
        started = time.monotonic()
        job = project.run(
            [*cli, "predict", "--input", str(records), "--output", str(work / "ray.csv")],
            env=env | {"RAY_ADDRESS": address},
            timeout=600,
        )
        seconds = time.monotonic() - started

    split_line = next(
        (line for line in job.stdout.splitlines() if line.startswith("rows scored per Ray node")),
        None,
    )
    assert split_line is not None, job.stdout
    split = {
        node: int(rows)
        for node, rows in re.findall(r"([0-9a-f]+): (\d+)", split_line.split(":", 1)[1])
    }
    print(f"\n{ROWS + REPEATED} rows in batches of {CHUNK_ROWS} on two nodes in {seconds:.1f} s")
    print(split_line)
    assert len(split) == 2, f"one node did all the work: {split_line}"
    assert sum(split.values()) == ROWS + REPEATED
    assert f"wrote {ROWS} predictions" in job.stdout
    assert f"dropped {REPEATED} rows" in job.stdout

    local = (
        "import sys\n"
        f"from {package}.pipelines.predict import predict\n"
        f"from {package}.settings import load_settings\n"
        "predict(load_settings('local'), sys.argv[1], sys.argv[2])\n"
    )
    project.run(
        ["uv", "run", "--frozen", "python", "-c", local, str(records), str(work / "local.csv")],
        env=env,
    )
    ray_output = (work / "ray.csv").read_bytes()
    assert ray_output == (work / "local.csv").read_bytes(), "the engines disagree"
    assert ray_output.count(b"\n") == ROWS + 1
