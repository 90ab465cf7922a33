"""Shared helpers for the template tests: render with pytest-cookies, inspect, run."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import types
from collections.abc import Sequence
from pathlib import Path

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
HOOKS_DIR = TEMPLATE_DIR / "hooks"
ANSWERS_EXPRESSION = "{{ cookiecutter | jsonify }}"

# cookiecutter.json loads local_extensions.py from the template folder, which cookiecutter
# and cruft put on sys.path while they render; pytest-cookies and ``default_answers``
# prompt outside that, so the folder stays importable for the whole session.
if str(TEMPLATE_DIR) not in sys.path:
    sys.path.append(str(TEMPLATE_DIR))


def default_answers(**extra_context: str) -> dict:
    """The answers cookiecutter derives from cookiecutter.json with --no-input."""
    context = generate_context(
        context_file=str(TEMPLATE_DIR / "cookiecutter.json"), extra_context=extra_context
    )
    return dict(prompt_for_config(context, no_input=True))


def load_hook(name: str, answers: dict | None = None) -> types.ModuleType:
    """Import hooks/<name>.py with its Jinja expression replaced by ``answers``.

    Cookiecutter renders hooks before it runs them; this does the same substitution so
    the functions of a hook can be unit-tested without rendering a project.
    """
    source = (HOOKS_DIR / f"{name}.py").read_text(encoding="utf-8")
    assert ANSWERS_EXPRESSION in source, f"hooks/{name}.py no longer reads {ANSWERS_EXPRESSION}"
    rendered = source.replace(ANSWERS_EXPRESSION, json.dumps(answers or default_answers()))
    module = types.ModuleType(f"hook_{name}")
    module.__file__ = str(HOOKS_DIR / f"{name}.py")
    exec(compile(rendered, module.__file__, "exec"), module.__dict__)
    return module


def template_git_copy(destination: Path, message: str = "template") -> Path:
    """Copy the template's working tree to ``destination`` as a one-commit git repository.

    cruft (and a cookiecutter ``_repo_dir`` commit) need the template to be a real
    repository; caches and build output are left out.
    """
    shutil.copytree(
        TEMPLATE_DIR,
        destination,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "site",
            "__pycache__",
            ".pytest_cache",
            ".ruff_cache",
            ".hypothesis",
        ),
    )
    git = ["git", "-C", str(destination), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", message], check=True)
    return destination


def run_cookiecutter(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The cookiecutter command run in ``cwd`` as a user's shell runs it.

    Its config (replay files, clones) lives in ``cwd``, and $PWD is ``cwd``, as the
    hooks read it to tell where cookiecutter was started.
    """
    config = cwd / "cookiecutterrc.yaml"
    if not config.exists():
        config.write_text(
            f"cookiecutters_dir: {cwd / 'cookiecutters'}\nreplay_dir: {cwd / 'replay'}\n"
        )
    env = {**os.environ, "COOKIECUTTER_CONFIG": str(config), "PWD": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def project_env() -> dict[str, str]:
    """The environment a user's shell would have: without this dev env's virtualenv.

    ``uv run pytest`` puts the template's .venv first on PATH and sets VIRTUAL_ENV;
    inside a rendered project that would hide missing tools and confuse uv.
    """
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PATH"] = os.pathsep.join(
        entry for entry in env.get("PATH", "").split(os.pathsep) if entry != venv_bin
    )
    return env


class BakedProject:
    """A project rendered by pytest-cookies, with helpers to look at it and run in it."""

    def __init__(self, result) -> None:
        self.result = result
        self.path: Path = result.project_path
        self.answers: dict = dict(result.context)

    def __repr__(self) -> str:
        return f"BakedProject({self.path})"

    def files(self) -> set[str]:
        """Relative posix paths of every file in the project, without .git/."""
        return {
            path.relative_to(self.path).as_posix()
            for path in self.path.rglob("*")
            if (path.is_file() or path.is_symlink())
            and ".git" not in path.relative_to(self.path).parts
        }

    def text_files(self) -> dict[str, str]:
        """Contents of every UTF-8 text file (binary files are left out)."""
        texts = {}
        for name in sorted(self.files()):
            try:
                texts[name] = (self.path / name).read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
        return texts

    def run(
        self,
        cmd: str | Sequence[str],
        *,
        env: dict | None = None,
        timeout: float = 1800,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run a command in the project folder; on failure show its whole output."""
        args = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        proc = subprocess.run(
            args,
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"`{shlex.join(args)}` exited {proc.returncode} in {self.path}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}",
                pytrace=False,
            )
        return proc


def bake_project(cookies, **extra_context: str) -> BakedProject:
    """Render the template with the given answers and fail the test unless it worked."""
    result = cookies.bake(extra_context=extra_context, template=str(TEMPLATE_DIR))
    assert result.exception is None, f"rendering {extra_context} failed: {result.exception!r}"
    assert result.exit_code == 0
    return BakedProject(result)


@pytest.fixture
def bake(cookies):
    """``bake(**answers)`` renders a project into the test's temporary folder."""

    def _bake(**extra_context: str) -> BakedProject:
        return bake_project(cookies, **extra_context)

    return _bake


# The longest deep tests (the whole workflow of a variant, tests/test_deep.py) go first.
LONGEST_FIRST = "test_deep.py"


def pytest_collection_modifyitems(config, items) -> None:
    """Deep tests first (the whole-workflow ones before the rest), then the fast ones.

    xdist hands each worker a contiguous share of this order and, with ``--dist
    worksteal``, an idle worker takes the tail of a busy worker's queue: the minutes-long
    deep tests start at once, longest first, and the fast tests fill the gaps, instead
    of one long test starting last and running alone (with plain ``--dist load`` the
    first worker's initial share held every deep variant, one after another). The sort
    is stable, so every worker collects the same order.
    """
    items.sort(
        key=lambda item: (
            item.get_closest_marker("deep") is None,
            item.path.name != LONGEST_FIRST,
        )
    )


def _variant_of(nodeid: str, ids: list[str]) -> str | None:
    """The variant a test ran on: its parametrize id is a variant id of tests/variants.py."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    params = nodeid[nodeid.index("[") + 1 : -1]
    return params if params in ids else None


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the variant table: each variant, how its fast and deep tests went, its answers."""
    from variants import DEEP, VARIANTS, describe

    ids = list(VARIANTS)
    outcomes: dict[tuple[str, str], dict[str, int]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) not in {"setup", "call"}:
                continue
            if report.when == "setup" and report.passed:
                continue
            variant = _variant_of(getattr(report, "nodeid", ""), ids)
            if variant is None:
                continue
            layer = "deep" if "deep" in report.keywords else "fast"
            counts = outcomes.setdefault((variant, layer), {})
            counts[report.outcome] = counts.get(report.outcome, 0) + 1
    if not outcomes:
        return

    def cell(variant: str, layer: str) -> str:
        counts = outcomes.get((variant, layer))
        if not counts:
            return "-"
        return " ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))

    rows = [(v, cell(v, "fast"), cell(v, "deep"), describe(VARIANTS[v])) for v in ids]
    width = max(len(v) for v in ids)
    fast_width = max(len("fast"), *(len(row[1]) for row in rows))
    deep_width = max(len("deep"), *(len(row[2]) for row in rows))
    terminalreporter.write_sep("=", f"variant table ({len(ids)} variants, deep layer: {len(DEEP)})")
    terminalreporter.write_line(
        f"{'variant':<{width}}  {'fast':<{fast_width}}  {'deep':<{deep_width}}  answers"
    )
    for variant, fast, deep, answers in rows:
        terminalreporter.write_line(
            f"{variant:<{width}}  {fast:<{fast_width}}  {deep:<{deep_width}}  {answers}"
        )
