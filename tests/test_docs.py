"""Documentation: the template's site and the rendered projects' sites build with --strict.

The template's option pages are generated from cookiecutter.json (docs/hooks.py), so
these tests also catch a prompt without an explanation or a page that lost its files.
The rendered docs are built once per distinct set of the answers they depend on, with
this dev environment's mkdocs-material (the same package the projects depend on).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR, BakedProject, bake_project
from expected import PER_OPTION
from variants import VARIANTS, covering

MKDOCS = [sys.executable, "-m", "mkdocs", "build", "--strict"]
# The answers the rendered docs pages read.
DOCS_ANSWERS = ("cloud", "serving", "scheduler", "ci", "prediction_store", "include_notebooks")
DOCS_VARIANTS = covering(DOCS_ANSWERS, where={"docs": "mkdocs"})
NO_DOCS_VARIANT = covering(["docs"], where={"docs": "none"})[0]


def _mkdocs(cwd: Path, site: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [*MKDOCS, "--site-dir", str(site)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed in {cwd}:\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def template_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("template-site")
    _mkdocs(TEMPLATE_DIR, site)
    return site


def test_template_site_builds_with_every_page(template_site):
    for page in ("quickstart", "architecture", "updating", "developing", "faq"):
        assert (template_site / page / "index.html").is_file(), f"no {page} page"
    architecture = (template_site / "architecture" / "index.html").read_text()
    assert architecture.count('class="mermaid"') >= 2, "data flow and deployment diagrams"


def test_every_prompt_has_its_generated_option_page(template_site):
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    choice_options = [key for key, value in context.items() if isinstance(value, list)]
    choice_options = [key for key in choice_options if not key.startswith("_")]
    index = (template_site / "options" / "index.html").read_text()
    for key in [*choice_options, "environments"]:
        page = template_site / "options" / key / "index.html"
        assert page.is_file(), f"no options page for {key}"
        assert f'href="{key}/"' in index, f"options/index does not link {key}"
        html = page.read_text()
        for value in context[key] if key in choice_options else []:
            assert f"<code>{value}</code>" in html, f"{key} page does not show {value}"
        for (option, _), files in PER_OPTION.items():
            if option == key:
                for name in files:
                    assert name in html, f"{key} page does not list {name}"


def test_a_prompt_without_explanation_fails_the_build():
    from mkdocs.exceptions import PluginError

    spec = importlib.util.spec_from_file_location("docs_hooks", TEMPLATE_DIR / "docs/hooks.py")
    assert spec is not None and spec.loader is not None
    docs_hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs_hooks)

    with pytest.raises(PluginError, match="no explanation"):
        docs_hooks._prose("a_prompt_nobody_documented")


@pytest.fixture(scope="module", params=DOCS_VARIANTS)
def docs_project(request, cookies_session) -> BakedProject:
    return bake_project(cookies_session, **VARIANTS[request.param])


def test_project_docs_build_strict_and_speak_of_the_project(docs_project, tmp_path):
    site = tmp_path / "site"
    _mkdocs(docs_project.path, site)
    answers = docs_project.answers
    index = (site / "index.html").read_text()
    assert answers["description"].split()[0] in index
    operations = (site / "operations" / "index.html").read_text()
    for env in answers["environments"].split(","):
        assert f"configs/{env.strip()}.yaml" in operations
    assert ("/predict" in operations) == (answers["serving"] == "fastapi")

    makefile = (docs_project.path / "Makefile").read_text()
    assert "mkdocs build --strict" in makefile
    dev = tomllib.loads((docs_project.path / "pyproject.toml").read_text())
    assert any(dep.startswith("mkdocs-material") for dep in dev["dependency-groups"]["dev"])


def test_docs_none_leaves_no_trace(cookies_session):
    project = bake_project(cookies_session, **VARIANTS[NO_DOCS_VARIANT])
    assert not (project.path / "docs").exists()
    assert not (project.path / "mkdocs.yml").exists()
    assert "mkdocs" not in (project.path / "Makefile").read_text()
    assert "mkdocs" not in (project.path / "pyproject.toml").read_text()
    assert "site/" not in (project.path / ".gitignore").read_text()
