"""Shape the freshly rendered project to the answers.

Cookiecutter renders this file with Jinja and runs it inside the new project folder.
Steps, in order:

1. prune: remove the files and folders of options that were not chosen (``PRUNE``),
   and keep the sample table of the chosen ``task`` as the project's sample;
2. expand every ``__env__`` path into one copy per deployment environment;
3. record the answers in ``.cruft.json`` so ``cruft update`` can replay them (cruft
   writes that file itself when it renders, so then this step is left out);
4. ``git init`` the project (pre-commit needs a repository);
5. print where the project is and the first three commands to run in it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | jsonify }}""")

# The single table of which paths belong to which answer: when option == value, the
# listed paths (relative to the project, formatted with the answers) are removed.
# A path that does not exist is skipped, so a row may name files still to be written.
PRUNE: dict[tuple[str, str], list[str]] = {
    ("serving", "none"): [
        "src/{package_name}/serving",
        "tests/serving",
        "tests/test_serve_command.py",
        "benchmarks/serve.py",
        "compose.yaml",
        "deploy/k8s/base/deployment.yaml",
        "deploy/k8s/base/service.yaml",
        "deploy/k8s/base/hpa.yaml",
        "deploy/k8s/base/pdb.yaml",
        "deploy/k8s/base/networkpolicy-api.yaml",
        "tests/test_workflow.py",
    ],
    ("include_notebooks", "no"): [
        "notebooks",
        "scripts/notebooks_to_html.py",
        "tests/test_notebooks.py",
    ],
    ("docs", "none"): ["docs", "mkdocs.yml"],
    ("cloud", "none"): [
        "tests/test_cloud_storage.py",
        "tests/test_infra.py",
        "infra",
        "docs/infrastructure.md",
    ],
    ("prediction_store", "sqlite"): ["infra/terraform/database.tf"],
    # ci=none keeps .github/workflows/batch.yml when the batch jobs run in GitHub Actions.
    ("ci", "none"): [
        ".github/workflows/ci.yml",
        ".github/workflows/cd.yml",
        ".github/dependabot.yml",
    ],
    ("scheduler", "none"): [
        ".github/workflows/batch.yml",
        "deploy/k8s/base/cronjobs.yaml",
        "deploy/k8s/base/networkpolicy-batch.yaml",
        "deploy/k8s/base/rayjob.yaml",
        "deploy/k8s/base/kustomizeconfig.yaml",
    ],
    ("scheduler", "github-actions"): [
        "deploy/k8s/base/cronjobs.yaml",
        "deploy/k8s/base/networkpolicy-batch.yaml",
        "deploy/k8s/base/rayjob.yaml",
        "deploy/k8s/base/kustomizeconfig.yaml",
    ],
    ("scheduler", "kubernetes"): [".github/workflows/batch.yml"],
    ("tracking", "none"): [
        "src/{package_name}/tracking.py",
        "tests/test_tracking.py",
        "docs/tracking.md",
    ],
    ("compute", "local"): [
        "src/{package_name}/pipelines/predict_ray.py",
        "tests/pipelines/test_predict_ray.py",
        "docs/compute.md",
        "deploy/k8s/base/rayjob.yaml",
        "deploy/k8s/base/kustomizeconfig.yaml",
    ],
    ("license", "Proprietary"): [],  # LICENSE keeps a short proprietary notice
}

# The template ships one sample table per task: the default task's at SAMPLE, each other
# task's beside it; the chosen task's becomes SAMPLE and the others go.
SAMPLE = "data/sample/customers.csv"
TASK_SAMPLE = "data/sample/customers-{task}.csv"

ENV_PLACEHOLDER = "__env__"

# What cruft stores in .cruft.json: the answers, minus machine-specific paths.
CRUFT_CONTEXT_EXCLUDE = ("_output_dir", "_repo_dir")
CRUFT_SKIP = [".git", "uv.lock", "data/sample"]
# cookiecutter's built-in abbreviations (gh:org/repo), which cruft cannot clone.
ABBREVIATIONS = {
    "gh": "https://github.com/{}.git",
    "gl": "https://gitlab.com/{}.git",
    "bb": "https://bitbucket.org/{}",
}


def environments(answers: dict) -> list[str]:
    """Deployment environments in promotion order (validated by the pre-gen hook)."""
    return [env.strip() for env in answers["environments"].split(",") if env.strip()]


def paths_to_prune(answers: dict) -> list[str]:
    paths: list[str] = []
    for (option, value), templates in PRUNE.items():
        if answers.get(option) == value:
            paths.extend(template.format(**answers) for template in templates)
    return paths


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def prune(root: Path, answers: dict) -> None:
    for relative in paths_to_prune(answers):
        path = root / relative
        remove(path)
        remove_empty_parents(path.parent, root)


def choose_sample(root: Path, answers: dict) -> None:
    """Keep the sample table of the chosen task as SAMPLE; drop the other tasks' tables."""
    chosen = root / TASK_SAMPLE.format(task=answers.get("task", ""))
    if chosen.is_file():
        chosen.replace(root / SAMPLE)
    for other in sorted(root.glob(TASK_SAMPLE.format(task="*"))):
        remove(other)


def remove_empty_parents(folder: Path, root: Path) -> None:
    """Drop folders that pruning left empty, up to (not including) the project root."""
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def env_templates(root: Path) -> list[Path]:
    """Topmost paths whose name contains the placeholder (a folder counts once)."""
    found: list[Path] = []
    for path in sorted(root.rglob(f"*{ENV_PLACEHOLDER}*")):
        if not any(parent in found for parent in path.parents):
            found.append(path)
    return found


def copy_for_env(source: Path, target: Path, env: str) -> None:
    """Copy a file or folder, replacing the placeholder in names and text contents."""
    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for child in sorted(source.iterdir()):
            copy_for_env(child, target / child.name.replace(ENV_PLACEHOLDER, env), env)
        return
    data = source.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        target.write_bytes(data)
    else:
        target.write_text(text.replace(ENV_PLACEHOLDER, env), encoding="utf-8")
    shutil.copymode(source, target)


def expand_environments(root: Path, envs: list[str]) -> None:
    for template in env_templates(root):
        for env in envs:
            target = template.with_name(template.name.replace(ENV_PLACEHOLDER, env))
            copy_for_env(template, target, env)
        remove(template)


def local_path(value: str | None) -> Path | None:
    """Absolute path of a local template given as cookiecutter saw it (maybe relative).

    Hooks run inside the new project, so a relative path is resolved against the
    directory cookiecutter was started from (the shell's $PWD) and accepted only if a
    template is really there.
    """
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(os.environ.get("PWD", "/nonexistent")) / path
    return path.resolve() if (path / "cookiecutter.json").is_file() else None


def template_commit(answers: dict) -> str | None:
    """HEAD of the template checkout cookiecutter rendered from, if it is a git one."""
    repo_dir = local_path(answers.get("_repo_dir"))
    if repo_dir is None or not shutil.which("git"):
        return None
    result = subprocess.run(
        ["git", "-C", str(repo_dir), "rev-parse", "--verify", "-q", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None


def template_url(value: str | None) -> str | None:
    """The template as cruft can clone it: an absolute path or a full git URL."""
    local = local_path(value)
    if local is not None:
        return str(local)
    prefix, _, rest = (value or "").partition(":")
    if prefix in ABBREVIATIONS and rest:
        return ABBREVIATIONS[prefix].format(rest)
    return value


def cruft_state(answers: dict) -> dict:
    """The .cruft.json content, as ``cruft create`` would write it."""
    context = {k: v for k, v in answers.items() if k not in CRUFT_CONTEXT_EXCLUDE}
    context["_template"] = template_url(answers.get("_template"))
    commit = template_commit(answers)
    if commit:
        context["_commit"] = commit
    return {
        "template": context.get("_template"),
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
        "skip": CRUFT_SKIP,
    }


def write_cruft_state(root: Path, answers: dict) -> None:
    text = json.dumps(cruft_state(answers), ensure_ascii=False, indent=2) + "\n"
    (root / ".cruft.json").write_text(text, encoding="utf-8")


def git_init(root: Path) -> None:
    """Make the project its own git repository (pre-commit needs one).

    Skipped when git is missing or the folder already is a repository (re-rendering
    over an existing project). A project rendered inside another repository still
    gets its own, so its hooks never land in the enclosing one.
    """
    if not shutil.which("git") or (root / ".git").exists():
        return
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)


def rendered_by_cruft(answers: dict) -> bool:
    """cruft (create, update, diff) sets _commit and writes .cruft.json itself."""
    return "_commit" in answers


def start_directory() -> Path:
    """The directory cookiecutter was started from (the shell's $PWD)."""
    return Path(os.environ.get("PWD") or os.getcwd())


def first_commands(answers: dict) -> list[tuple[str, str]]:
    """The first three make targets a new user runs, with what each does."""
    last = (
        ("make serve", "serve it on http://127.0.0.1:8000 (Ctrl+C stops it)")
        if answers.get("serving") == "fastapi"
        else ("make predict", "score the sample batch with it")
    )
    return [
        ("make install", "create .venv from uv.lock and install the git hooks"),
        ("make train", "train and register a model on the shipped sample data"),
        last,
    ]


def next_steps(root: Path, answers: dict) -> str:
    """Where the project is and the commands to run next."""
    start = start_directory()
    try:
        folder = str(root.relative_to(start)) if start.resolve() != root.resolve() else "."
    except ValueError:
        folder = str(root)
    width = max(len(command) for command, _ in first_commands(answers))
    lines = [f"Created {answers['project_name']} in {root}", "Next:"]
    lines.append(f"  cd {shlex.quote(folder)}")
    lines += [f"  {cmd:<{width}}  # {what}" for cmd, what in first_commands(answers)]
    return "\n".join(lines)


def rendered_for_the_user(root: Path, answers: dict) -> bool:
    """False for the scratch copies `cruft update` and `cruft diff` render in a temp dir."""
    return not rendered_by_cruft(answers) or root.resolve().parent == start_directory().resolve()


def main(root: Path, answers: dict) -> None:
    prune(root, answers)
    choose_sample(root, answers)
    expand_environments(root, environments(answers))
    if not rendered_by_cruft(answers):
        write_cruft_state(root, answers)
    git_init(root)
    if rendered_for_the_user(root, answers):
        print(next_steps(root, answers))


if __name__ == "__main__":
    try:
        main(Path.cwd(), ANSWERS)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"ERROR: post-generation step failed: {error}", file=sys.stderr)
        sys.exit(1)
