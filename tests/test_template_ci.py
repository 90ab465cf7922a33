"""The template's own CI (.github/workflows at the template root) is valid, pinned and tight.

All offline: zizmor without its online audits, check-jsonschema with its vendored
GitHub schema.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE_DIR
from variants import choices

WORKFLOWS = sorted((TEMPLATE_DIR / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")
MAIN_OR_NIGHTLY = "github.ref == 'refs/heads/main' || github.event_name == 'schedule'"


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _load(path: Path) -> dict:
    # PyYAML reads the key `on` as True; put it back.
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


@pytest.fixture(scope="module")
def workflow() -> dict:
    (path,) = [path for path in WORKFLOWS if path.name == "test.yml"]
    return _load(path)


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, cwd=TEMPLATE_DIR, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout}{proc.stderr}"


def test_workflows_pass_zizmor_offline():
    _run([_bin("zizmor"), "--offline", "--no-progress", "--persona", "pedantic", ".github"])


def test_workflows_match_the_github_schema():
    checker = [_bin("check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    _run([*checker, *map(str, WORKFLOWS)])


def test_actions_are_pinned_to_commits_with_version_comments():
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "uses:" in line:
                action = line.split("uses:", 1)[1].strip()
                assert PINNED.match(action), f"{path.name}: not pinned: {action}"


def test_least_privilege_and_no_persisted_credentials(workflow):
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert job["permissions"] == {"contents": "read"}, f"job {name}"
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"job {name}"


def test_fast_on_every_push_deep_and_docs_on_main_and_nightly(workflow):
    assert {"push", "pull_request", "schedule"} <= set(workflow["on"])
    assert "branches" not in (workflow["on"]["push"] or {})
    jobs = workflow["jobs"]
    assert "if" not in jobs["fast"]
    assert "test-fast" in str(jobs["fast"]["steps"])
    for name, target in (("deep", "test-deep"), ("docs", "make docs")):
        assert MAIN_OR_NIGHTLY in jobs[name]["if"], name
        assert target in str(jobs[name]["steps"]), name


def test_python_matrix_is_every_supported_version(workflow):
    versions = set(choices()["python_version"])
    for name in ("fast", "deep"):
        assert set(workflow["jobs"][name]["strategy"]["matrix"]["python"]) == versions, name
