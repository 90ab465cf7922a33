"""Recipes of the rendered Makefile, run with this dev environment's tools.

``RUN`` (``uv run --frozen`` in a project) is pointed at this environment's Python, so
the recipes run as written without installing the project: ruff and mkdocs are the
same packages the project's dev group pins. The deep layer runs them through uv.
"""

from __future__ import annotations

import sys

import pytest
from conftest import BakedProject, bake_project, project_env

RUN = f"RUN={sys.executable} -m"

# Too long for ruff (E501, which no fix can repair) and badly formatted.
UNFORMATTED = "def f( a,b ):\n    return {'a':a,'b':b}\n\n\nx = '" + "a" * 120 + "'\n"


@pytest.fixture(scope="module")
def project(cookies_session) -> BakedProject:
    return bake_project(cookies_session)


def test_make_format_formats_even_when_a_rule_cannot_be_fixed(project):
    source = project.path / "src" / project.answers["package_name"] / "scratch.py"
    source.write_text(UNFORMATTED)
    try:
        project.run(["make", "format", RUN], env=project_env())
        assert source.read_text().startswith('def f(a, b):\n    return {"a": a, "b": b}\n')

        lint = project.run(["make", "lint", RUN], env=project_env(), check=False)
        assert lint.returncode != 0, "make lint accepted a line no fix can shorten"
        assert "E501" in lint.stdout
    finally:
        source.unlink()


def test_make_docs_builds_without_the_end_of_life_notice(project):
    proc = project.run(["make", "docs", RUN], env=project_env())
    assert (project.path / "site" / "index.html").is_file()
    assert "end of life" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("dont_write_bytecode", "sync"),
    [(None, "uv sync"), ("1", "uv sync --compile-bytecode")],
)
def test_make_install_compiles_ahead_only_where_python_keeps_no_bytecode(
    project, dont_write_bytecode, sync
):
    env = {k: v for k, v in project_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    if dont_write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = dont_write_bytecode
    proc = project.run(["make", "--dry-run", "install", "UV=uv"], env=env)
    assert sync in proc.stdout.splitlines()
