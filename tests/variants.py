"""The answer combinations the template tests render, derived from cookiecutter.json.

Every variant is a dict of answers that differ from the defaults (what
``cookiecutter --no-input`` would pick); the choices and defaults themselves are read
from cookiecutter.json, never repeated here. ``VARIANTS`` holds them, by readable id:

1. **Named variants**, written by hand: ``default``, ``maximal`` and the rest of the
   deep-layer subset (``DEEP``), and the edge-case answers (``EDGE_CASES``: unusual but
   valid names, every ``python_version``, every environments example).
2. **Pairwise variants**, generated: for the options that interact (every choice option
   except ``INDEPENDENT`` ones, plus the environments examples), every pair of values
   appears together in at least one variant: cloud x ci x scheduler, serving x
   prediction_store, cloud x environments, ... A greedy covering array, deterministic,
   filled in after the named variants so it only adds what they leave uncovered.
   ``INDEPENDENT`` options (they change one file, nothing else reads them) only need
   every value once; the generated rows cycle through their values. ``PAIRED_WITH``
   options meet a few options only (``task`` changes what the service answers and the
   store keeps, nothing the cloud, CI or scheduler files read): each of their values
   pairs with every value of those.

One rule excludes invalid combinations: **a combination is valid if and only if the
pre-gen hook (hooks/pre_gen_project.py ``validate``) accepts it**. The generator only
emits valid combinations, and a pair that no valid combination can hold is not required.
When the template gains a rule that forbids a combination, add it to the hook; the
variants follow.

A new choice option or value in cookiecutter.json is picked up without an edit here.
``environments`` is free text, so its example values live in ``ENVIRONMENTS_EXAMPLES``
(the first one must be cookiecutter.json's default).
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]

# The environments answers every test run covers, in the order the prompt suggests them.
ENVIRONMENTS_EXAMPLES = ("dev,prod", "dev,staging,prod")

# Choice options no other file depends on: each value once is enough.
INDEPENDENT = ("python_version", "license")
# Choice options that interact with the listed options only: those pairs are covered.
# tracking and compute meet the files of the cloud, the scheduler, the store and the service.
SCALE_OPTIONS = ("cloud", "scheduler", "prediction_store", "serving")
PAIRED_WITH: dict[str, tuple[str, ...]] = {
    "task": ("serving", "prediction_store"),
    "tracking": SCALE_OPTIONS,
    "compute": SCALE_OPTIONS,
}

# Short names used in variant ids and the variant table.
SHORT = {
    "python_version": "py",
    "environments": "envs",
    "include_notebooks": "notebooks",
    "prediction_store": "store",
}

# The deep layer (make install, make check, train -> predict, serve -> request) runs on
# these: the default, a maximal variant, and one per prediction_store, cloud, serving and
# task value, combined to keep the list short; serving x prediction_store pairwise
# (default: fastapi + sqlite, maximal: fastapi + postgres, batch-gcp: none + postgres,
# lean-azure: none + sqlite). tests/test_adopt.py serves every task.
DEEP = ("default", "maximal", "batch-gcp", "lean-azure")

NAMED: dict[str, dict[str, str]] = {
    "default": {},
    "maximal": {
        "project_name": "Fraud Scoring Service",
        "environments": "dev,staging,prod",
        "cloud": "aws",
        "prediction_store": "postgres",
        "scheduler": "kubernetes",
        "license": "Apache-2.0",
        "task": "multiclass",
    },
    "batch-gcp": {
        "cloud": "gcp",
        "serving": "none",
        "prediction_store": "postgres",
        "python_version": "3.13",
        "license": "BSD-3-Clause",
    },
    "lean-azure": {
        "cloud": "azure",
        "serving": "none",
        "ci": "none",
        "scheduler": "none",
        "include_notebooks": "no",
        "docs": "none",
        "python_version": "3.11",
        "license": "Proprietary",
        "task": "regression",
    },
}

EDGE_CASES: dict[str, dict[str, str]] = {
    # Capitals, digits and hyphens in the name: slug "acme-churn-model-2-go".
    "name-caps-digits-hyphens": {
        "project_name": "ACME Churn-Model 2 Go",
        "python_version": "3.11",
    },
    # The longest package name the hook accepts (30 characters), and one that sorts after
    # `tests`: imports of the package and of the test suite share one block, and every
    # line that names the package still fits in 100 characters.
    "name-longest-after-tests": {"project_name": "Weather Forecast Ensemble Zone"},
    # Non-ASCII letters: transliterated in the slug ("prevision-de-resiliation-oresund"),
    # kept as written in titles and docs.
    "name-non-ascii": {
        "project_name": "Prévision de Résiliation Öresund",
        "python_version": "3.13",
        "environments": "dev,staging,prod",
    },
    # Slug and package chosen by hand, metadata with quotes and markup characters.
    "name-custom-slug-package": {
        "project_name": "Churn",
        "project_slug": "acme-churn-model",
        "package_name": "acme_churn",
        "author_name": "Ana Müller-O'Brien",
        "description": "Quotes \"double\" and 'single' & <angle> {braces}",
    },
    # One environment only, and unusual environment names.
    "envs-prod-only": {"environments": "prod", "serving": "none"},
    "envs-custom-names": {"environments": "test1,qa,prod", "scheduler": "kubernetes"},
}


@functools.cache
def cookiecutter_json() -> dict:
    return json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))


def choices() -> dict[str, list[str]]:
    """Every choice option with its values; the first value is the default."""
    return {
        key: list(value)
        for key, value in cookiecutter_json().items()
        if isinstance(value, list) and not key.startswith("_")
    }


def defaults() -> dict[str, str]:
    """The default of every choice option, and the default environments answer."""
    return {key: values[0] for key, values in choices().items()} | {
        "environments": cookiecutter_json()["environments"]
    }


def dimensions() -> dict[str, list[str]]:
    """Every option the matrix varies, with its values (environments: the examples)."""
    return choices() | {"environments": list(ENVIRONMENTS_EXAMPLES)}


def interacting() -> list[str]:
    """Options covered pairwise with each other (all but independent and paired-with)."""
    return [key for key in dimensions() if key not in INDEPENDENT and key not in PAIRED_WITH]


def varied() -> list[str]:
    """Options the generated rows choose: the interacting and the paired-with ones."""
    return [key for key in dimensions() if key not in INDEPENDENT]


def required_pairs() -> list[tuple[str, str]]:
    """The option pairs whose every pair of values some variant must render."""
    pairs = list(itertools.combinations(interacting(), 2))
    return pairs + [(key, other) for key, others in PAIRED_WITH.items() for other in others]


@functools.cache
def _validate():
    """The pre-gen hook's ``validate``: the one rule for invalid combinations."""
    from conftest import load_hook  # late: conftest imports this module for the summary

    return load_hook("pre_gen_project").validate


@functools.cache
def _base_answers() -> tuple[tuple[str, str], ...]:
    from conftest import default_answers

    return tuple(default_answers().items())


def is_valid(overrides: dict[str, str]) -> bool:
    """Whether the pre-gen hook accepts these answers (derived names from the defaults)."""
    return not _validate()(dict(_base_answers()) | overrides)


def _pairs(answers: dict[str, str], pairs: list[tuple[str, str]]) -> Iterator[tuple]:
    return (((a, answers[a]), (b, answers[b])) for a, b in pairs)


def _full(overrides: dict[str, str]) -> dict[str, str]:
    return defaults() | overrides


def _generate_pairwise(named: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Rows (as overrides of the defaults) covering every valid pair the named miss."""
    dims = dimensions()
    keys = varied()
    pairs = required_pairs()
    base = defaults()
    candidates = []
    for combination in itertools.product(*(dims[key] for key in keys)):
        row = dict(zip(keys, combination, strict=True))
        overrides = {key: value for key, value in row.items() if value != base[key]}
        if is_valid(overrides):
            candidates.append(row)
    possible = {pair for row in candidates for pair in _pairs(row, pairs)}
    covered = {pair for answers in named for pair in _pairs(_full(answers), pairs)}
    uncovered = possible - covered

    rows: list[dict[str, str]] = []
    while uncovered:
        # Most new pairs first; among equals the one closest to the defaults.
        best = max(
            candidates,
            key=lambda row: (
                len(uncovered.intersection(_pairs(row, pairs))),
                -sum(row[key] != base[key] for key in keys),
            ),
        )
        uncovered -= set(_pairs(best, pairs))
        rows.append({key: value for key, value in best.items() if value != base[key]})

    # Spread the independent options' values over the generated rows.
    for key in INDEPENDENT:
        values = dims[key]
        for index, row in enumerate(rows):
            value = values[(index + 1) % len(values)]
            if value != base[key] and is_valid(row | {key: value}):
                row[key] = value
    return rows


# Values that mean nothing without their option's name in an id.
VAGUE_VALUES = ("none", "yes", "no")


def _token(key: str, value: str) -> str:
    if key == "environments":
        return value.replace(",", "-")
    if key == "python_version":
        return f"py{value}"
    ambiguous = sum(value in values for values in dimensions().values()) > 1
    if ambiguous or value in VAGUE_VALUES:
        return f"{SHORT.get(key, key)}-{value}"
    return value


def variant_id(overrides: dict[str, str]) -> str:
    """A readable id: the answers that differ from the defaults, e.g. aws+serving-none."""
    order = varied() + list(INDEPENDENT)
    tokens = [_token(key, overrides[key]) for key in order if key in overrides]
    return "+".join(tokens) or "default"


@functools.cache
def build_variants() -> dict[str, dict[str, str]]:
    variants = NAMED | EDGE_CASES
    for row in _generate_pairwise(variants.values()):
        # Named by the interacting answers (unique per row); the table shows the rest.
        name = variant_id({key: value for key, value in row.items() if key not in INDEPENDENT})
        assert name not in variants, f"generated variant {name} repeats a named one"
        variants[name] = row
    return variants


VARIANTS: dict[str, dict[str, str]] = build_variants()


def describe(overrides: dict[str, str]) -> str:
    """The answers of a variant in one line, for the variant table."""
    return ", ".join(f"{SHORT.get(key, key)}={value}" for key, value in overrides.items()) or (
        "(all defaults)"
    )


def covering(keys: Iterable[str], where: dict[str, str] | None = None) -> list[str]:
    """A few variant ids that together show every value of ``keys`` (default first).

    For checks that only depend on some options (a validator of one kind of file, the
    docs build), so they run once per distinct relevant answer set instead of once per
    variant. ``where`` keeps only variants with these answers.
    """
    keys = list(keys)
    pool = [
        name
        for name, overrides in VARIANTS.items()
        if all(_full(overrides).get(key) == value for key, value in (where or {}).items())
    ]
    needed = {(key, _full(VARIANTS[name])[key]) for name in pool for key in keys}
    chosen: list[str] = []
    while needed:
        best = max(
            pool,
            key=lambda name: len(needed & {(key, _full(VARIANTS[name])[key]) for key in keys}),
        )
        chosen.append(best)
        needed -= {(key, _full(VARIANTS[best])[key]) for key in keys}
    return chosen
