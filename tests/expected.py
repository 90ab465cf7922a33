"""The exact file set a rendered project must have, as a function of the answers.

Kept by hand on purpose: when the template gains or loses a file, this list changes in
the same commit, and the test shows the difference.
"""

from __future__ import annotations

# Every project, whatever the answers. ``{pkg}`` is the package name.
BASE = [
    ".cruft.json",
    ".dockerignore",
    ".gitignore",
    ".pre-commit-config.yaml",
    "Dockerfile",
    "LICENSE",
    "Makefile",
    "README.md",
    "pyproject.toml",
    "benchmarks/batch.py",
    "configs/local.yaml",
    "data/sample/customers.csv",
    "deploy/k8s/base/kustomization.yaml",
    "deploy/k8s/base/serviceaccount.yaml",
    "src/{pkg}/__init__.py",
    "src/{pkg}/__main__.py",
    "src/{pkg}/adopt.py",
    "src/{pkg}/cli.py",
    "src/{pkg}/columns.py",
    "src/{pkg}/contracts.py",
    "src/{pkg}/data.py",
    "src/{pkg}/dataset.py",
    "src/{pkg}/datagen.py",
    "src/{pkg}/decorators.py",
    "src/{pkg}/features.py",
    "src/{pkg}/features_default.py",
    "src/{pkg}/io.py",
    "src/{pkg}/logs.py",
    "src/{pkg}/model.py",
    "src/{pkg}/registry.py",
    "src/{pkg}/report.py",
    "src/{pkg}/runtime.py",
    "src/{pkg}/settings.py",
    "src/{pkg}/py.typed",
    "src/{pkg}/store.py",
    "src/{pkg}/pipelines/__init__.py",
    "src/{pkg}/pipelines/monitor.py",
    "src/{pkg}/pipelines/predict.py",
    "src/{pkg}/pipelines/train.py",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/test_adopt.py",
    "tests/test_cli.py",
    "tests/test_contracts.py",
    "tests/test_data.py",
    "tests/test_datagen.py",
    "tests/test_decorators.py",
    "tests/test_features.py",
    "tests/test_io.py",
    "tests/test_logs.py",
    "tests/test_model.py",
    "tests/test_registry.py",
    "tests/test_runtime.py",
    "tests/test_settings.py",
    "tests/test_store.py",
    "tests/pipelines/__init__.py",
    "tests/pipelines/test_monitor.py",
    "tests/pipelines/test_predict.py",
    "tests/pipelines/test_train.py",
]

# One copy per deployment environment (``{env}``), from the ``__env__`` templates.
PER_ENVIRONMENT = [
    "configs/{env}.yaml",
    "deploy/k8s/overlays/{env}/kustomization.yaml",
    "deploy/k8s/overlays/{env}/namespace.yaml",
]

# The Terraform module of a cloud variant (infra/terraform), whichever the cloud.
INFRA = [
    "infra/terraform/.gitignore",
    "infra/terraform/backend.hcl",
    "infra/terraform/cluster.tf",
    "infra/terraform/github.tf",
    "infra/terraform/outputs.tf",
    "infra/terraform/registry.tf",
    "infra/terraform/storage.tf",
    "infra/terraform/terraform.tfvars",
    "infra/terraform/variables.tf",
    "infra/terraform/versions.tf",
]

# Files that exist only for one value of an option.
PER_OPTION: dict[tuple[str, str], list[str]] = {
    ("serving", "fastapi"): [
        "benchmarks/serve.py",
        "compose.yaml",
        "deploy/k8s/base/deployment.yaml",
        "deploy/k8s/base/hpa.yaml",
        "deploy/k8s/base/networkpolicy-api.yaml",
        "deploy/k8s/base/pdb.yaml",
        "deploy/k8s/base/service.yaml",
        "src/{pkg}/serving/__init__.py",
        "src/{pkg}/serving/app.py",
        "src/{pkg}/serving/auth.py",
        "src/{pkg}/serving/batcher.py",
        "src/{pkg}/serving/errors.py",
        "src/{pkg}/serving/examples.py",
        "src/{pkg}/serving/history.py",
        "src/{pkg}/serving/limits.py",
        "src/{pkg}/serving/metrics.py",
        "src/{pkg}/serving/predictor.py",
        "src/{pkg}/serving/schemas.py",
        "tests/serving/__init__.py",
        "tests/serving/conftest.py",
        "tests/serving/test_api.py",
        "tests/serving/test_batcher.py",
        "tests/serving/test_durability.py",
        "tests/serving/test_examples.py",
        "tests/serving/test_jobs_and_service.py",
        "tests/serving/test_limits.py",
        "tests/serving/test_openapi.py",
        "tests/serving/test_readiness.py",
        "tests/serving/test_security.py",
        "tests/serving/test_server.py",
        "tests/test_serve_command.py",
        "tests/test_workflow.py",
    ],
    ("include_notebooks", "yes"): [
        "notebooks/explore.ipynb",
        "scripts/notebooks_to_html.py",
        "tests/test_notebooks.py",
    ],
    ("docs", "mkdocs"): [
        "mkdocs.yml",
        "docs/architecture.md",
        "docs/index.md",
        "docs/operations.md",
        "docs/own-data.md",
    ],
    ("ci", "github"): [
        ".github/dependabot.yml",
        ".github/workflows/cd.yml",
        ".github/workflows/ci.yml",
    ],
    ("scheduler", "github-actions"): [".github/workflows/batch.yml"],
    ("scheduler", "kubernetes"): [
        "deploy/k8s/base/cronjobs.yaml",
        "deploy/k8s/base/networkpolicy-batch.yaml",
    ],
    ("tracking", "mlflow"): ["src/{pkg}/tracking.py", "tests/test_tracking.py"],
    ("compute", "ray"): [
        "src/{pkg}/pipelines/predict_ray.py",
        "tests/pipelines/test_predict_ray.py",
    ],
    ("cloud", "aws"): ["tests/test_cloud_storage.py", "tests/test_infra.py", *INFRA],
    ("cloud", "gcp"): ["tests/test_cloud_storage.py", "tests/test_infra.py", *INFRA],
    ("cloud", "azure"): ["tests/test_cloud_storage.py", "tests/test_infra.py", *INFRA],
}


def environments(answers: dict) -> list[str]:
    return [env.strip() for env in answers["environments"].split(",")]


def expected_files(answers: dict) -> set[str]:
    """Relative posix paths of every file (not folder) outside .git/."""
    pkg = answers["package_name"]
    files = {name.format(pkg=pkg) for name in BASE}
    for env in environments(answers):
        files |= {name.format(pkg=pkg, env=env) for name in PER_ENVIRONMENT}
    for (option, value), names in PER_OPTION.items():
        if answers[option] == value:
            files |= {name.format(pkg=pkg) for name in names}
    if answers["cloud"] != "none":  # files of two options at once
        files |= {f"infra/terraform/environments/{env}.tfvars" for env in environments(answers)}
        if answers["prediction_store"] == "postgres":
            files.add("infra/terraform/database.tf")
        if answers["docs"] == "mkdocs":
            files.add("docs/infrastructure.md")
    if answers["docs"] == "mkdocs":
        if answers["tracking"] == "mlflow":
            files.add("docs/tracking.md")
        if answers["compute"] == "ray":
            files.add("docs/compute.md")
    if answers["compute"] == "ray" and answers["scheduler"] == "kubernetes":
        files.add("deploy/k8s/base/rayjob.yaml")
        files.add("deploy/k8s/base/kustomizeconfig.yaml")
    return files
