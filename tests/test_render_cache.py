"""The compiled-template cache local_extensions.py gives cookiecutter's Jinja environment.

A render after another reuses the compiled template files; what it writes must not
depend on that: the same files as a render with an empty cache, and a template file
edited in between rendered from its new text.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE_DIR, template_git_copy
from jinja2 import Environment

from local_extensions import compile_fingerprint


def render(template: Path, output: Path, tmpdir: Path) -> Path:
    """`cookiecutter TEMPLATE --no-input` with its temp dir (and so its cache) in ``tmpdir``."""
    output.mkdir(parents=True)
    tmpdir.mkdir(parents=True, exist_ok=True)
    config = output / "cookiecutterrc.yaml"
    config.write_text(f"cookiecutters_dir: {output / 'c'}\nreplay_dir: {output / 'r'}\n")
    env = {**os.environ, "COOKIECUTTER_CONFIG": str(config), "PWD": str(output)}
    env["TMPDIR"] = str(tmpdir)
    subprocess.run(
        [sys.executable, "-m", "cookiecutter", str(template), "--no-input", "-o", str(output)],
        cwd=output,
        env=env,
        check=True,
        capture_output=True,
    )
    return output / "customer-churn"


def contents(project: Path) -> dict[str, bytes]:
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def cached(tmpdir: Path) -> list[Path]:
    return list(tmpdir.glob("_jinja2-cache-*/__cookiecutter_*.cache"))


def test_a_render_with_a_warm_cache_writes_the_same_files(tmp_path):
    first = render(TEMPLATE_DIR, tmp_path / "first", tmp_path / "tmp")
    assert cached(tmp_path / "tmp"), "the first render left no compiled templates"
    again = render(TEMPLATE_DIR, tmp_path / "again", tmp_path / "tmp")
    assert contents(again) == contents(first)


def test_a_template_file_edited_between_renders_renders_from_its_new_text(tmp_path):
    template = template_git_copy(tmp_path / "template")
    render(template, tmp_path / "first", tmp_path / "tmp")
    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nEdited for {{ cookiecutter.project_name }}.\n")
    again = render(template, tmp_path / "again", tmp_path / "tmp")
    assert (again / "README.md").read_text().endswith("\nEdited for Customer Churn.\n")


def test_templates_compiled_under_other_jinja_settings_are_not_reused():
    assert compile_fingerprint(Environment()) == compile_fingerprint(Environment())
    assert compile_fingerprint(Environment()) != compile_fingerprint(Environment(trim_blocks=True))
    other_delimiters = Environment(variable_start_string="[[", variable_end_string="]]")
    assert compile_fingerprint(Environment()) != compile_fingerprint(other_delimiters)
