"""The Terraform module in infra/terraform against the rest of the project.

Terraform is not needed: every file is parsed with python-hcl2, and the names the
module creates (buckets, namespaces, databases, GitHub variables) are compared with
the ones configs/, the Kubernetes overlays and the workflows use.
`make check` also runs checkov on the module, and `terraform fmt` where installed.
"""

import os
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import sqlalchemy as sa

from {{cookiecutter.package_name}}.settings import ENV_PREFIX, load_settings
from .conftest import PROJECT_ROOT

MODULE = PROJECT_ROOT / "infra" / "terraform"
OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
ENVIRONMENTS = sorted(
    path.stem for path in (PROJECT_ROOT / "configs").glob("*.yaml") if path.stem != "local"
)


def parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as file:
        parsed: dict[str, Any] = hcl2.load(file, serialization_options=OPTIONS)
    return parsed


def blocks(kind: str) -> dict[str, dict[str, Any]]:
    """Every ``kind`` block (variable, output) of the module, by name."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        for block in parse(path).get(kind, []):
            found.update(block)
    return found


def values(env: str) -> dict[str, Any]:
    """The variables an apply for ``env`` sets: terraform.tfvars, then the env's file."""
    return parse(MODULE / "terraform.tfvars") | parse(MODULE / "environments" / f"{env}.tfvars")


@pytest.mark.parametrize(
    "path",
    sorted(p for p in MODULE.rglob("*") if p.suffix in {".tf", ".tfvars", ".hcl"}),
    ids=lambda path: str(path.relative_to(MODULE)),
)
def test_every_terraform_file_parses(path: Path) -> None:
    assert parse(path), f"{path} is empty"


def test_one_variable_file_per_environment() -> None:
    files = sorted(path.stem for path in (MODULE / "environments").glob("*.tfvars"))
    assert files == ENVIRONMENTS
    assert sorted(parse(MODULE / "terraform.tfvars")["environments"]) == ENVIRONMENTS
    for env in ENVIRONMENTS:
        assert values(env)["environment"] == env


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_variable_is_declared_and_every_required_one_is_set(env: str) -> None:
    declared = blocks("variable")
    given = values(env)
    assert not set(given) - set(declared), "set but not declared in variables"
    required = {name for name, spec in declared.items() if "default" not in spec}
    assert not required - set(given), f"no value for environments/{env}.tfvars"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_names_match_the_configs_and_the_overlays(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in [key for key in os.environ if key.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(variable)  # the files alone, as Terraform sees them
    given = values(env)
    name = f"{given['project']}-{env}"
    settings = load_settings(env, PROJECT_ROOT / "configs")
    uris = [settings.storage.registry_uri, settings.storage.reports_uri]
    uris.append(settings.data.predictions_uri)
    for uri in uris:
        assert uri.split("://", 1)[1].startswith(f"{name}/"), f"configs/{env}.yaml: {uri}"
    overlay = PROJECT_ROOT / "deploy" / "k8s" / "overlays" / env / "kustomization.yaml"
    namespaces = re.findall(r"^namespace: (\S+)$", overlay.read_text(), flags=re.MULTILINE)
    assert namespaces == [name], overlay
    if "database_name" in given:
        database = sa.make_url(settings.store.url).database
        assert given["database_name"] == database, f"configs/{env}.yaml: {settings.store.url}"


def test_the_workflows_read_the_variables_terraform_outputs() -> None:
    outputs = blocks("output")["github_variables"]["value"]
    workflows = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))
    used = {
        name
        for path in workflows
        for name in re.findall(r"\bvars\.([A-Z0-9_]+)", path.read_text(encoding="utf-8"))
    }
    assert used <= set(outputs), "read by the workflows, not output by Terraform"
