"""The variant matrix itself: derived from cookiecutter.json, complete, pairwise, valid."""

from __future__ import annotations

import itertools
import re

from conftest import default_answers, load_hook
from variants import (
    DEEP,
    EDGE_CASES,
    ENVIRONMENTS_EXAMPLES,
    INDEPENDENT,
    PAIRED_WITH,
    VARIANTS,
    choices,
    cookiecutter_json,
    covering,
    defaults,
    dimensions,
    interacting,
    required_pairs,
    variant_id,
)

READABLE_ID = re.compile(r"^[a-z0-9][a-zA-Z0-9.+-]*$")


def _answers(overrides: dict[str, str]) -> dict[str, str]:
    return defaults() | overrides


def test_defaults_come_from_cookiecutter_json():
    context = cookiecutter_json()
    assert VARIANTS["default"] == {}
    for key, values in choices().items():
        assert defaults()[key] == context[key][0]
        assert values == context[key]
    assert ENVIRONMENTS_EXAMPLES[0] == context["environments"], "the default is an example"


def test_every_value_of_every_option_is_rendered():
    seen = {
        (key, value)
        for overrides in VARIANTS.values()
        for key, value in _answers(overrides).items()
    }
    wanted = {(key, value) for key, values in dimensions().items() for value in values}
    assert not wanted - seen, f"no variant renders: {sorted(wanted - seen)}"


def test_interacting_options_are_covered_pairwise():
    keys = interacting()
    assert {"cloud", "ci", "scheduler", "serving", "prediction_store"} <= set(keys)
    pairs = required_pairs()
    assert set(itertools.combinations(keys, 2)) <= set(pairs)
    assert {("task", "serving"), ("task", "prediction_store")} <= set(pairs)
    rows = [_answers(overrides) for overrides in VARIANTS.values()]
    dims = dimensions()
    missing = [
        ((a, x), (b, y))
        for a, b in pairs
        for x in dims[a]
        for y in dims[b]
        if not any(row[a] == x and row[b] == y for row in rows)
    ]
    assert not missing, f"pairs no variant renders: {missing}"


def test_every_variant_passes_the_pre_gen_rule():
    validate = load_hook("pre_gen_project").validate
    for name, overrides in VARIANTS.items():
        assert validate(default_answers(**overrides)) == [], name


def test_ids_are_unique_and_readable():
    assert len(set(VARIANTS)) == len(VARIANTS)
    for name in VARIANTS:
        assert READABLE_ID.match(name), name
    assert variant_id({"cloud": "aws", "serving": "none"}) == "aws+serving-none"


def test_edge_cases_cover_names_python_versions_and_environments():
    names = [overrides.get("project_name", "") for overrides in EDGE_CASES.values()]
    assert any(re.search(r"[A-Z]", n) and re.search(r"\d", n) and "-" in n for n in names)
    assert any(not n.isascii() for n in names)
    assert any(" " in n for n in names)
    seen_python = {_answers(o)["python_version"] for o in VARIANTS.values()}
    assert seen_python == set(choices()["python_version"])
    seen_envs = {_answers(o)["environments"] for o in VARIANTS.values()}
    assert set(ENVIRONMENTS_EXAMPLES) <= seen_envs


def test_deep_subset_has_default_maximal_and_every_store_cloud_serving_and_task():
    assert DEEP[:2] == ("default", "maximal")
    deep = [_answers(VARIANTS[name]) for name in DEEP]
    for key in ("prediction_store", "cloud", "serving", "task"):
        assert {row[key] for row in deep} == set(choices()[key]), key
    pairs = {(row["serving"], row["prediction_store"]) for row in deep}
    assert len(pairs) == len(choices()["serving"]) * len(choices()["prediction_store"])
    maximal = deep[1]
    assert maximal["environments"] == "dev,staging,prod"
    assert maximal["include_notebooks"] == "yes" and maximal["docs"] == "mkdocs"


def test_covering_shows_every_value_with_few_variants():
    chosen = covering(["cloud", "serving"])
    assert {_answers(VARIANTS[name])["cloud"] for name in chosen} == set(choices()["cloud"])
    assert len(chosen) <= len(choices()["cloud"])
    assert all(
        _answers(VARIANTS[n])["docs"] == "none" for n in covering(["cloud"], {"docs": "none"})
    )


def test_independent_and_paired_options_exist():
    assert set(INDEPENDENT) <= set(choices())
    assert set(PAIRED_WITH) <= set(choices())
    assert {other for others in PAIRED_WITH.values() for other in others} <= set(interacting())
