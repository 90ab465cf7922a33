"""Validate the answers before cookiecutter writes any file.

Cookiecutter renders this file with Jinja and runs it inside the new project folder.
A non-zero exit makes cookiecutter delete that folder again, so an invalid answer
leaves nothing behind. Every rule is a small function returning error messages, so
the tests can call ``validate`` directly.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

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

PACKAGE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
PROJECT_SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PROJECT_SLUG_MAX = 63
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
LAST_ENV = "prod"
LOCAL_ENV = "local"


def validate_package_name(value: str) -> list[str]:
    field = f"package_name {value!r}"
    if not PACKAGE_NAME_RE.match(value) or not value.isidentifier():
        return [
            f"{field} is not a valid import name: use lowercase letters, digits and "
            "underscores, not starting with a digit (e.g. customer_churn)"
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
    if len(value) > PROJECT_SLUG_MAX or not PROJECT_SLUG_RE.match(value):
        return [
            f"project_slug {value!r} is not a valid repository/image name: use lowercase "
            "letters, digits and single hyphens, starting with a letter, at most "
            f"{PROJECT_SLUG_MAX} characters (what git hosts and Docker image names accept)"
        ]
    return []


def validate_author_email(value: str) -> list[str]:
    if not EMAIL_RE.match(value):
        return [f"author_email {value!r} is not an e-mail address like name@example.com"]
    return []


def parse_environments(value: str) -> list[str]:
    """Split the comma-separated environments answer (order is promotion order)."""
    return [item.strip() for item in value.split(",")]


def validate_environments(value: str) -> list[str]:
    field = f"environments {value!r}"
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
        if not ENV_NAME_RE.match(env)
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
    "package_name": validate_package_name,
    "project_slug": validate_project_slug,
    "author_email": validate_author_email,
    "environments": validate_environments,
}


def validate(answers: dict) -> list[str]:
    """Return one message per broken rule; an empty list means the answers are valid."""
    errors: list[str] = []
    for field, check in VALIDATORS.items():
        errors.extend(check(str(answers.get(field, ""))))
    return errors


def main() -> int:
    errors = validate(ANSWERS)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
