"""Validate the answers before cookiecutter writes any file.

Cookiecutter renders this file with Jinja and runs it inside the new project folder.
A non-zero exit makes cookiecutter delete that folder again, so an invalid answer
leaves nothing behind. Every rule is a small function returning error messages, so
the tests can call ``validate`` directly. After the errors comes the command that
renders again with the answers kept (``rerun_command``), for the user to fix and run.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shlex
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | jsonify }}""")

# Import names a project package must not take: its own tests, the libraries the
# rendered project depends on, and names that make imports ambiguous.
RESERVED_PACKAGE_NAMES = (
    "app",
    "fastapi",
    "fsspec",
    "main",
    "matplotlib",
    "numpy",
    "pandas",
    "pandera",
    "pydantic",
    "pydantic_settings",
    "pytest",
    "scipy",
    "setuptools",
    "skops",
    "sklearn",
    "sqlalchemy",
    "src",
    "starlette",
    "structlog",
    "test",
    "tests",
    "uvicorn",
    "yaml",
)

PACKAGE_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
# The generated code is formatted for names this long: a longer one pushes lines that
# import from the package past the 100-character limit of ruff.
PACKAGE_NAME_MAX = 30
PROJECT_SLUG_RE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PROJECT_SLUG_MAX = 63
# An address every packaging tool and mail server takes: an ASCII local part of letters,
# digits and . _ % + ' - (no quoting), and a domain of letters, digits and inner hyphens.
EMAIL_RE = re.compile(
    r"[A-Za-z0-9_%+'-]+(\.[A-Za-z0-9_%+'-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
EMAIL_MAX = 254
# GitHub user and organisation names: letters, digits, single inner hyphens, 39 at most.
GITHUB_OWNER_RE = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*")
GITHUB_OWNER_MAX = 39
ENV_NAME_RE = re.compile(r"[a-z][a-z0-9]{0,15}")
LAST_ENV = "prod"
LOCAL_ENV = "local"

# Free text written into titles, docs and metadata: one line each, at most this long.
TEXT_MAX = {"project_name": 80, "description": 300, "author_name": 100}
# Jinja's opening delimiters: the generated files and `cruft update` would read them as
# template syntax. Spelt out so that cookiecutter, which renders this file, leaves them.
OPEN = "{"
TEMPLATE_MARKERS = (OPEN + OPEN, OPEN + "%", OPEN + "#")
# Values are echoed cut to this many characters.
ECHO_LIMIT = 80


def shown(value: str) -> str:
    """``value`` quoted for a message, cut to ``ECHO_LIMIT`` characters."""
    if len(value) <= ECHO_LIMIT:
        return repr(value)
    return f"{value[: ECHO_LIMIT - 1]!r}… ({len(value)} characters)"


def validate_text(field: str, value: str, *, required: bool = True) -> list[str]:
    """A one-line free-text answer: printable, trimmed, no template syntax, not too long."""
    label = f"{field} {shown(value)}"
    limit = TEXT_MAX[field]
    if not value and not required:
        return []
    if not value.strip():
        return [f"{label} is empty: give a value"]
    errors = []
    if not value.isprintable():
        errors.append(f"{label} contains a line break or another invisible character")
    if value != value.strip():
        errors.append(f"{label} starts or ends with spaces")
    if any(marker in value for marker in TEMPLATE_MARKERS):
        errors.append(
            f"{label} contains template syntax ({', '.join(TEMPLATE_MARKERS)}), which the "
            "generated files would carry and `cruft update` would evaluate; leave it out"
        )
    if len(value) > limit:
        errors.append(f"{label} is {len(value)} characters long; the limit is {limit}")
    return errors


def validate_name(field: str, value: str, derived: str, example: str) -> list[str]:
    """A name: free text with at least one letter or digit to derive ``derived`` from."""
    errors = validate_text(field, value)
    if value.strip() and not any(char.isalnum() for char in value):
        errors.append(
            f"{field} {shown(value)} has no letter or digit to derive {derived} from "
            f"(e.g. {example})"
        )
    return errors


def validate_project_name(value: str) -> list[str]:
    return validate_name("project_name", value, "the folder and package names", "Customer Churn")


def validate_description(value: str) -> list[str]:
    return validate_text("description", value, required=False)


def validate_author_name(value: str) -> list[str]:
    return validate_name("author_name", value, "the GitHub owner", "Jane Doe")


def validate_github_owner(value: str) -> list[str]:
    if len(value) > GITHUB_OWNER_MAX or not GITHUB_OWNER_RE.fullmatch(value):
        return [
            f"github_owner {shown(value)} is not a GitHub user or organisation name: "
            "letters, digits and single hyphens, not at either end, at most "
            f"{GITHUB_OWNER_MAX} characters (derived from author_name unless answered)"
        ]
    return []


def validate_package_name(value: str) -> list[str]:
    field = f"package_name {shown(value)}"
    if not PACKAGE_NAME_RE.fullmatch(value) or not value.isidentifier():
        return [
            f"{field} is not a valid import name: use lowercase letters, digits and "
            "underscores, not starting with a digit (e.g. customer_churn)"
        ]
    if len(value) > PACKAGE_NAME_MAX:
        return [
            f"{field} is {len(value)} characters long; the limit is {PACKAGE_NAME_MAX} "
            "(derived from project_slug unless answered)"
        ]
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return [f"{field} is a Python keyword; choose another name"]
    if value in sys.stdlib_module_names:
        return [f"{field} shadows the standard-library module {value!r}; choose another name"]
    if value in RESERVED_PACKAGE_NAMES:
        return [
            f"{field} is reserved: it clashes with a dependency or a folder of the "
            f"generated project (reserved: {', '.join(RESERVED_PACKAGE_NAMES)}); "
            "choose another name"
        ]
    return []


def validate_project_slug(value: str) -> list[str]:
    if len(value) > PROJECT_SLUG_MAX or not PROJECT_SLUG_RE.fullmatch(value):
        return [
            f"project_slug {shown(value)} is not a valid repository/image name: use "
            "lowercase letters, digits and single hyphens, starting with a letter, at most "
            f"{PROJECT_SLUG_MAX} characters (what git hosts and Docker image names accept; "
            "derived from project_name unless answered)"
        ]
    return []


def validate_author_email(value: str) -> list[str]:
    if len(value) > EMAIL_MAX or not EMAIL_RE.fullmatch(value):
        return [
            f"author_email {shown(value)} is not an e-mail address like name@example.com "
            "(ASCII letters, digits and . _ % + ' - before the @, a domain name after it)"
        ]
    return []


def parse_environments(value: str) -> list[str]:
    """Split the comma-separated environments answer (order is promotion order)."""
    return [item.strip() for item in value.split(",")]


def validate_environments(value: str) -> list[str]:
    field = f"environments {shown(value)}"
    envs = parse_environments(value)
    if any(not env for env in envs):
        return [
            f"{field} does not parse: give comma-separated names in promotion order "
            "with no empty items, e.g. 'dev,prod' or 'dev,staging,prod'"
        ]
    errors = [
        f"{field}: environment name {env!r} must be a lowercase letter followed by at "
        "most 15 lowercase letters or digits"
        for env in envs
        if not ENV_NAME_RE.fullmatch(env)
    ]
    duplicates = sorted({env for env in envs if envs.count(env) > 1})
    if duplicates:
        errors.append(f"{field}: environment {', '.join(map(repr, duplicates))} is listed twice")
    if LOCAL_ENV in envs:
        errors.append(
            f"{field}: {LOCAL_ENV!r} is reserved for the laptop configuration "
            "(configs/local.yaml); leave it out"
        )
    if LAST_ENV not in envs:
        errors.append(f"{field} must contain {LAST_ENV!r}, the last promotion stage")
    elif envs[-1] != LAST_ENV:
        errors.append(f"{field}: {LAST_ENV!r} must come last (environments are in promotion order)")
    return errors


VALIDATORS = {
    "project_name": validate_project_name,
    "project_slug": validate_project_slug,
    "package_name": validate_package_name,
    "description": validate_description,
    "author_name": validate_author_name,
    "author_email": validate_author_email,
    "github_owner": validate_github_owner,
    "environments": validate_environments,
}


# Names derived from another answer by default: when that answer is refused and left
# nothing to derive from, its message is the one that counts.
DERIVED_FROM = {
    "project_slug": "project_name",
    "package_name": "project_name",
    "github_owner": "author_name",
}


def validate(answers: dict) -> list[str]:
    """Return one message per broken rule; an empty list means the answers are valid."""
    found = {field: check(str(answers.get(field, ""))) for field, check in VALIDATORS.items()}
    for field, source in DERIVED_FROM.items():
        if found[source] and not str(answers.get(field, "")):
            found[field] = []
    return [error for errors in found.values() for error in errors]


# --- rendering again with the answers kept ------------------------------------------


def local_path(value: str | None) -> Path | None:
    """A local template folder as cookiecutter was given it (maybe relative to $PWD)."""
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(os.environ.get("PWD", "/nonexistent")) / path
    return path.resolve() if (path / "cookiecutter.json").is_file() else None


def default_answers(answers: dict) -> dict:
    """What cookiecutter.json gives each prompt when unanswered, the others as answered.

    Rendered with cookiecutter itself (the interpreter running this hook has it); empty
    when the template or cookiecutter cannot be found, so every answer is then kept.
    """
    repo_dir = local_path(answers.get("_repo_dir"))
    try:
        from cookiecutter.environment import StrictEnvironment
        from cookiecutter.prompt import render_variable
    except ImportError:
        return {}
    if repo_dir is None:
        return {}
    raw = json.loads((repo_dir / "cookiecutter.json").read_text(encoding="utf-8"))
    env = StrictEnvironment(context={})
    defaults = {}
    for key, value in raw.items():
        if key.startswith("_") or not isinstance(value, str | list):
            continue
        first = value[0] if isinstance(value, list) and value else value
        try:
            defaults[key] = render_variable(env, first, answers)
        except Exception:  # a default that needs what is refused; keep the answer
            continue
    return defaults


def kept_answers(answers: dict) -> dict[str, str]:
    """The answers a rerun needs: those that differ from what cookiecutter would pick."""
    defaults = default_answers(answers)
    order = {key: index for index, key in enumerate(defaults)}  # cookiecutter.json's
    return {
        key: str(answers[key])
        for key in sorted(answers, key=lambda key: order.get(key, len(order)))
        if not key.startswith("_") and (key not in defaults or defaults[key] != answers[key])
    }


def rerun_command(answers: dict) -> str:
    """The shell command that renders the template again with these answers."""
    kept = kept_answers(answers)
    template = str(answers.get("_template") or answers.get("_repo_dir") or ".")
    options: list[str] = []
    if answers.get("_checkout"):
        options += ["--checkout", str(answers["_checkout"])]
    output_dir = answers.get("_output_dir")
    if output_dir and Path(output_dir) != Path(os.environ.get("PWD", os.getcwd())):
        options += ["--output-dir", str(output_dir)]
    if "_commit" in answers:  # rendered by cruft create
        extra = json.dumps(kept, ensure_ascii=False)
        return shlex.join(["cruft", "create", *options, "--extra-context", extra, template])
    pairs = [f"{key}={value}" for key, value in kept.items()]
    return shlex.join(["cookiecutter", *options, template, *pairs])


def replay_file(answers: dict) -> Path | None:
    """Cookiecutter's replay file of this run, if it holds these answers.

    Cookiecutter writes it after the questions and before this hook, in the replay_dir
    of the user's config, named after the template folder.
    """
    try:
        from cookiecutter.config import get_user_config

        replay_dir = Path(get_user_config()["replay_dir"])
    except Exception:  # no cookiecutter, or a config it cannot read
        return None
    name = Path(str(answers.get("_repo_dir", ""))).resolve().name
    path = replay_dir / f"{name}.json"
    try:
        replayed = json.loads(path.read_text(encoding="utf-8"))["cookiecutter"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    same = all(replayed.get(k) == v for k, v in answers.items() if not k.startswith("_"))
    return path if same else None


def rerun_hint(answers: dict) -> str:
    lines = [
        "Your answers are kept in this command: fix the values named above and run it",
        "(each question then offers your answer as its default; add --no-input to skip them):",
        f"  {rerun_command(answers)}",
    ]
    replay = replay_file(answers)
    if replay is not None and "_commit" not in answers:
        template = str(answers.get("_template") or replay.stem)
        command = shlex.join(["cookiecutter", "--replay-file", str(replay), template])
        lines += [
            "Cookiecutter also saved them in its replay file; fix them there (and the names",
            f"derived from them, such as project_slug) and run:\n  {command}",
        ]
    return "\n".join(lines)


def main() -> int:
    errors = validate(ANSWERS)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        print(rerun_hint(ANSWERS), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
