"""Fast layer for the Terraform module (infra/terraform) of the cloud variants.

For each cloud: every Terraform file parses (python-hcl2), checkov finds no failed
check (every skip carries its reason in the code), and ``terraform fmt`` accepts the
files where a terraform binary is installed. A variant without a cloud has no trace of
the module. The names the module shares with configs, overlays and workflows are
checked in tests/test_deploy.py (``test_names_agree_across_...``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
from conftest import BakedProject, bake_project

CHECKOV = "checkov==3.3.30"  # the version the rendered Makefile runs
HCL_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
INFRA_VARIANTS: dict[str, dict[str, str]] = {
    "aws-postgres": {"cloud": "aws", "prediction_store": "postgres"},
    "gcp-postgres-three-envs": {
        "cloud": "gcp",
        "prediction_store": "postgres",
        "environments": "dev,staging,prod",
    },
    "azure-postgres": {"cloud": "azure", "prediction_store": "postgres"},
    "aws-sqlite-no-ci": {"cloud": "aws", "ci": "none", "docs": "none"},
}
LOGIN_VARIABLES = {
    "aws": {"AWS_ROLE_ARN"},
    "gcp": {"GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_SERVICE_ACCOUNT"},
    "azure": {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"},
}


def parse_hcl(path: Path) -> dict:
    with path.open(encoding="utf-8") as file:
        return hcl2.load(file, serialization_options=HCL_OPTIONS)


@pytest.fixture(scope="module", params=list(INFRA_VARIANTS), ids=list(INFRA_VARIANTS))
def infra(request, cookies_session) -> BakedProject:
    return bake_project(cookies_session, **INFRA_VARIANTS[request.param])


def module_dir(project: BakedProject) -> Path:
    return project.path / "infra" / "terraform"


def test_every_terraform_file_parses(infra):
    files = sorted(
        path for path in module_dir(infra).rglob("*") if path.suffix in {".tf", ".tfvars", ".hcl"}
    )
    assert {path.name for path in files} >= {"versions.tf", "outputs.tf", "terraform.tfvars"}
    for path in files:
        try:
            assert parse_hcl(path), f"{path.name} is empty"
        except Exception as error:  # a parser error names line and column
            pytest.fail(f"{path.relative_to(infra.path)} does not parse: {error}")
    postgres = infra.answers["prediction_store"] == "postgres"
    assert (module_dir(infra) / "database.tf").exists() == postgres


def test_outputs_give_the_workflows_their_login(infra):
    outputs: dict = {}
    for path in module_dir(infra).glob("*.tf"):
        for block in parse_hcl(path).get("output", []):
            outputs.update(block)
    variables = set(outputs["github_variables"]["value"])
    assert LOGIN_VARIABLES[infra.answers["cloud"]] <= variables
    versions = parse_hcl(module_dir(infra) / "versions.tf")
    backend = versions["terraform"][0]["backend"][0]
    assert list(backend) == [
        {"aws": "s3", "gcp": "gcs", "azure": "azurerm"}[infra.answers["cloud"]]
    ]


def test_checkov_finds_no_failed_check(infra):
    uv = shutil.which("uv")  # as in the Makefiles: else the one pip installed
    proc = subprocess.run(
        [
            *([uv] if uv else ["python3", "-m", "uv"]),
            "tool",
            "run",
            "--from",
            CHECKOV,
            "checkov",
            "--directory",
            str(module_dir(infra)),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.stdout.lstrip().startswith("{"), f"checkov did not run:\n{proc.stderr}"
    report = json.loads(proc.stdout)
    summary = report["summary"]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for check in report["results"]["failed_checks"]
    ]
    assert proc.returncode == 0 and not failed, "\n".join(failed) or proc.stderr
    assert summary["passed"] > 0 and summary["parsing_errors"] == 0, summary
    # Every skip says why, in the code, next to the resource it concerns.
    for path in module_dir(infra).glob("*.tf"):
        for skip in re.findall(r"#checkov:skip=.*", path.read_text(encoding="utf-8")):
            assert re.fullmatch(r"#checkov:skip=CKV2?_[A-Z]+_\d+:\S.{20,}", skip), skip


def test_terraform_fmt_accepts_the_files(infra):
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("no terraform binary on this machine: the rendered CI runs terraform fmt")
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color"],
        cwd=module_dir(infra),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_without_a_cloud_nothing_mentions_the_module(bake):
    project = bake(cloud="none", prediction_store="postgres")
    assert not (project.path / "infra").exists()
    for path in project.path.rglob("*"):
        if ".git" in path.relative_to(project.path).parts or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for word in ("terraform", "infra/", "checkov", "hcl2", "infrastructure.md"):
            assert word not in text.lower(), f"{path.relative_to(project.path)} mentions {word}"
