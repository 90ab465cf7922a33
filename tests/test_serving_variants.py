"""Serving and prediction-store variants: what each answer leaves in the project.

Fast layer: ``serving=none`` leaves no serving code, dependency, command or manifest
behind; ``prediction_store`` picks the database everywhere it is named; the Dockerfile
passes hadolint and compose.yaml validates against the compose specification (the
schema vendored by check-jsonschema), all offline. Every serving x prediction_store pair
installs, passes its own ``make check`` (postgres against the server on 127.0.0.1:5432)
and runs its workflow in the deep layer (tests/test_deep.py, variants.DEEP).
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import BakedProject, bake_project

SERVING_VARIANTS: dict[str, dict[str, str]] = {
    "fastapi-sqlite": {},
    "fastapi-postgres": {"prediction_store": "postgres"},
    "none-sqlite": {"serving": "none"},
    "none-postgres": {"serving": "none", "prediction_store": "postgres", "python_version": "3.11"},
}
SERVING_DEPENDENCIES = {"fastapi", "uvicorn", "prometheus-client", "python-multipart"}
SERVING_DEV_DEPENDENCIES = {"httpx", "schemathesis"}


@pytest.fixture(scope="module", params=list(SERVING_VARIANTS), ids=list(SERVING_VARIANTS))
def project(request, cookies_session) -> BakedProject:
    return bake_project(cookies_session, **SERVING_VARIANTS[request.param])


def tool(name: str) -> str:
    """A console script of the template's dev environment (hadolint, check-jsonschema)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed in the template's dev environment (uv sync)"
    return found


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0] for requirement in requirements}


def pyproject(project: BakedProject) -> dict:
    return tomllib.loads((project.path / "pyproject.toml").read_text())


def test_dependencies_follow_the_answers(project):
    config = pyproject(project)
    runtime = requirement_names(config["project"]["dependencies"])
    dev = requirement_names(config["dependency-groups"]["dev"])
    serving = project.answers["serving"] == "fastapi"
    postgres = project.answers["prediction_store"] == "postgres"

    assert "sqlalchemy" in runtime
    assert (runtime >= SERVING_DEPENDENCIES) is serving
    assert not serving or dev >= SERVING_DEV_DEPENDENCIES
    if not serving:
        assert not SERVING_DEPENDENCIES & runtime
        assert not SERVING_DEV_DEPENDENCIES & dev
    assert ("psycopg" in runtime) is postgres


def test_serving_none_leaves_no_serving_code_command_or_manifest(project):
    if project.answers["serving"] != "none":
        pytest.skip("serving=fastapi")
    pkg = project.answers["package_name"]
    files = project.files()
    assert not [name for name in files if "serving" in name.split("/")]
    assert "compose.yaml" not in files
    assert "benchmarks/serve.py" not in files
    texts = project.text_files()
    for name in ("Makefile", "Dockerfile", f"src/{pkg}/cli.py", f"src/{pkg}/settings.py"):
        for word in ("serve", "serving", "uvicorn", "fastapi", "HEALTHCHECK", "EXPOSE"):
            assert not re.search(rf"\b{word}\b", texts[name]), f"{name} mentions {word!r}"
    for config in (name for name in files if name.startswith("configs/")):
        assert "serving" not in yaml.safe_load(texts[config]), config
    # The batch side of the store is still there: predict writes it, monitor reads it.
    assert f"src/{pkg}/store.py" in files
    assert f"src/{pkg}/pipelines/monitor.py" in files
    assert "monitor:" in texts["Makefile"]


def test_serving_fastapi_has_the_service_entry_points(project):
    if project.answers["serving"] != "fastapi":
        pytest.skip("serving=none")
    texts = project.text_files()
    assert re.search(r"^serve: .*##", texts["Makefile"], re.MULTILINE)
    assert "PORT ?= 8000" in texts["Makefile"]
    assert "--host 127.0.0.1 --port $(PORT)" in texts["Makefile"]
    assert "FROM runtime AS serve" in texts["Dockerfile"]
    assert "HEALTHCHECK" in texts["Dockerfile"]


def test_every_config_names_the_chosen_store(project):
    postgres = project.answers["prediction_store"] == "postgres"
    for name in (n for n in project.files() if n.startswith("configs/")):
        url = yaml.safe_load((project.path / name).read_text())["store"]["url"]
        env = Path(name).stem
        if postgres:
            assert url.startswith("postgresql+psycopg://"), name
            database = project.answers["package_name"] + ("" if env == "local" else f"_{env}")
            assert url.endswith(f"/{database}"), name
        else:
            assert url == f"sqlite:///artifacts/{env}/store.db", name


def test_dockerfile_passes_hadolint(project):
    project.run([tool("hadolint"), "--failure-threshold", "info", "Dockerfile"])


def test_dockerfile_runs_as_non_root_from_a_slim_runtime(project):
    dockerfile = (project.path / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", dockerfile, re.MULTILINE)
    assert [name for _, name in stages][:3] == ["uv", "build", "runtime"]
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert "USER 10001:10001" in runtime
    assert "uv" not in re.findall(r"^COPY --from=(\w+)", runtime, re.MULTILINE)
    python = project.answers["python_version"]
    assert f"ARG PYTHON_VERSION={python}" in dockerfile


def test_dockerignore_keeps_local_state_out(project):
    ignored = (project.path / ".dockerignore").read_text().split()
    assert {".venv", ".git", "artifacts", "tests"} <= set(ignored)


def test_compose_file_matches_the_compose_specification(project):
    compose = project.path / "compose.yaml"
    if not compose.exists():
        pytest.skip("no compose.yaml without a service")
    project.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(compose)])
    services = yaml.safe_load(compose.read_text())["services"]
    assert services["api"]["build"]["target"] == "serve"
    assert ("db" in services) is (project.answers["prediction_store"] == "postgres")
