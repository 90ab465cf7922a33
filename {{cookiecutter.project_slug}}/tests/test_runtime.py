import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from {{cookiecutter.package_name}}.runtime import (
    ServeError,
    affinity_cpus,
    available_cpus,
    cgroup_cpu_limit,
    listen,
    thread_count,
)
from {{cookiecutter.package_name}}.settings import ENV_PREFIX, load_settings


def cgroup(tmp_path: Path, files: dict[str, str], own: str = "/") -> tuple[Path, Path]:
    """A fake /sys/fs/cgroup tree and /proc/self/cgroup naming this process's groups."""
    root = tmp_path / "cgroup"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    root.mkdir(exist_ok=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"4:memory:/other\n2:cpu,cpuacct:{own}\n0::{own}\n")
    return root, proc


@pytest.mark.parametrize(
    ("files", "own", "limit"),
    [
        ({"cpu.max": "max 100000\n"}, "/", None),
        ({"cpu.max": "100000 100000\n"}, "/", 1.0),
        ({"cpu.max": "150000 100000\n"}, "/", 1.5),
        ({"cpu.max": "max 100000", "job/cpu.max": "50000 100000"}, "/job", 0.5),
        ({"cpu.max": "200000 100000", "job/cpu.max": "max 100000"}, "/job", 2.0),
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, "/", 3.0),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, "/", None),
        (
            {
                "cpu,cpuacct/pod/cpu.cfs_quota_us": "200000",
                "cpu,cpuacct/pod/cpu.cfs_period_us": "100000",
            },
            "/pod",
            2.0,
        ),
        ({}, "/", None),
    ],
    ids=[
        "v2-none",
        "v2-one",
        "v2-one-and-half",
        "v2-nested",
        "v2-parent",
        "v1",
        "v1-none",
        "v1-nested",
        "no",
    ],
)
def test_cpu_quota_is_read_from_cgroup_files(
    tmp_path: Path, files: dict[str, str], own: str, limit: float | None
) -> None:
    root, proc = cgroup(tmp_path, files, own)
    assert cgroup_cpu_limit(root, proc) == limit


def test_available_cpus_round_the_quota_up_within_the_affinity(tmp_path: Path) -> None:
    root, proc = cgroup(tmp_path, {"cpu.max": "50000 100000"})
    assert available_cpus(root, proc) == 1
    root, proc = cgroup(tmp_path, {"cpu.max": "100000000 100000"})
    assert available_cpus(root, proc) == affinity_cpus()


def test_the_setting_overrides_the_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = cgroup(tmp_path, {"cpu.max": "100000 100000"})
    monkeypatch.setenv(f"{ENV_PREFIX}RUNTIME__THREADS", "3")
    assert thread_count(load_settings("local").runtime.threads, root) == 3
    assert thread_count(None, root) == 1


def test_train_runs_with_the_limited_thread_pools(tmp_path: Path) -> None:
    environment = os.environ | {
        f"{ENV_PREFIX}RUNTIME__THREADS": "1",
        f"{ENV_PREFIX}LOGGING__FORMAT": "json",
        f"{ENV_PREFIX}MODEL__MAX_ITER": "10",
        f"{ENV_PREFIX}STORAGE__REGISTRY_URI": str(tmp_path / "registry"),
        f"{ENV_PREFIX}STORAGE__REPORTS_URI": str(tmp_path / "reports"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "{{cookiecutter.package_name}}", "train", "--env", "local"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    applied = next(event for event in events if event["event"] == "runtime.threads")
    assert applied["threads"] == 1
    assert applied["pools"].get("openmp") == 1
    assert set(applied["pools"].values()) == {1}


def test_a_taken_port_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=f"127.0.0.1:{port}: the port is taken"):
            listen("127.0.0.1", port)
    listen("127.0.0.1", port).close()
