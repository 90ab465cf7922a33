"""Fast layer for delivery: workflows, Kubernetes manifests and cloud variants.

Every rendered variant goes through the tools a platform team would run in review:
zizmor and the GitHub schemas on the workflows, hadolint on the Dockerfile,
shellcheck on every shell script (including the workflows' ``run:`` steps),
``kubectl kustomize`` on every overlay with the output validated against the
Kubernetes schemas (KubeRay's resources against the vendored KubeRay CRD schemas,
tests/schemas/kuberay), the compose file against the compose specification, and one
cross-check that the image, registry and environment names agree between workflows,
manifests and configs. All of it runs offline.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import hcl2
import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import TEMPLATE_DIR, BakedProject, bake_project

# cloud x ci x scheduler (x store): every value at least once, every cloud with GitHub CI.
DEPLOY_VARIANTS: dict[str, dict[str, str]] = {
    "none-github-actions": {},
    "aws-github-kubernetes": {
        "project_name": "Fraud Scoring Service",
        "environments": "dev,staging,prod",
        "cloud": "aws",
        "scheduler": "kubernetes",
        "prediction_store": "postgres",
        "tracking": "mlflow",
        "compute": "ray",
    },
    "gcp-github-no-scheduler": {
        "cloud": "gcp",
        "scheduler": "none",
        "environments": "prod",
        "tracking": "mlflow",
    },
    "azure-github-kubernetes-batch-only": {
        "project_name": "Weather Forecast Ensemble Zone",  # the longest slug: 30 characters
        "cloud": "azure",
        "serving": "none",
        "scheduler": "kubernetes",
        "github_owner": "Contoso-ML",
        "compute": "ray",
    },
    "aws-no-ci-github-actions": {
        "cloud": "aws",
        "ci": "none",
        "serving": "none",
        "prediction_store": "postgres",
        "tracking": "mlflow",
        "compute": "ray",
    },
    "none-github-actions-mlflow-ray": {"tracking": "mlflow", "compute": "ray"},
    "none-no-ci-no-scheduler": {"ci": "none", "scheduler": "none", "serving": "none"},
}

# Kubernetes release the manifests are validated against (schemas ship with
# kubernetes-validate, so no download happens).
KUBERNETES_VERSION = "1.34.0"
CRONJOB_SCHEDULES = {"train": "0 3 * * *", "predict": "15 */2 * * *", "monitor": "45 */2 * * *"}
PINNED_USES = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
ACTIONS_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
CLOUD_LOGIN_ACTIONS = {
    "aws": "aws-actions/configure-aws-credentials",
    "gcp": "google-github-actions/auth",
    "azure": "azure/login",
}
REGISTRY_PATTERNS = {
    "none": r"ghcr\.io/<owner>",
    "aws": (
        r"\$\{\{ vars\.AWS_ACCOUNT_ID \}\}\.dkr\.ecr\."
        r"\$\{\{ vars\.AWS_REGION \}\}\.amazonaws\.com"
    ),
    "gcp": r"\$\{\{ vars\.GCP_REGION \}\}-docker\.pkg\.dev/\$\{\{ vars\.GCP_PROJECT_ID \}\}/<slug>",
    "azure": r"\$\{\{ vars\.AZURE_ACR_NAME \}\}\.azurecr\.io",
}
STORAGE = {
    "none": (None, None),
    "aws": ("s3", "s3fs"),
    "gcp": ("gs", "gcsfs"),
    "azure": ("az", "adlfs"),
}
# KubeRay release whose CRD schemas tests/schemas/kuberay holds (see its README).
KUBERAY_VERSION = "1.7.0"
KUBERAY_SCHEMAS = TEMPLATE_DIR / "tests" / "schemas" / "kuberay"
# Where the pods find the team's MLflow server with tracking=mlflow (base ConfigMap).
MLFLOW_IN_CLUSTER = "http://mlflow.mlflow.svc.cluster.local:5000"
# The label of the Ray cluster's pods (head, workers, submitter) of the predict job.
RAY_COMPONENT = "ray-predict"
# KubeRay refuses longer RayCronJob names (utils.MaxRayCronJobNameLength in v1.7.0: its
# RayJobs and their RayClusters append suffixes to it).
MAX_RAYCRONJOB_NAME = 36


def strict(schema: object) -> object:
    """The schema, refusing fields it does not list (the API server would drop them).

    Wherever an object lists ``properties`` and neither allows more
    (``additionalProperties``) nor keeps unknown fields
    (``x-kubernetes-preserve-unknown-fields``), unknown keys become errors.
    """
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def kuberay_validator(kind: str) -> jsonschema.Draft4Validator:
    """A validator of a KubeRay kind (RayJob, RayCronJob) from the vendored CRD schema."""
    path = KUBERAY_SCHEMAS / f"{kind.lower()}-v1.json"
    schema = strict(json.loads(path.read_text()))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def kuberay_errors(doc: dict) -> list[str]:
    """What the KubeRay CRD schema of the document's kind refuses, one line each."""
    assert doc["apiVersion"] == "ray.io/v1", doc["apiVersion"]
    errors = sorted(
        kuberay_validator(doc["kind"]).iter_errors(doc), key=lambda e: list(e.absolute_path)
    )
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors]


def ray_pod_templates(doc: dict) -> list[tuple[str, dict]]:
    """(role, pod template) of a RayCronJob's RayJob: head, each worker group, submitter."""
    job = doc["spec"]["jobTemplate"]
    cluster = job["rayClusterSpec"]
    templates = [("head", cluster["headGroupSpec"]["template"])]
    templates += [
        (f"workers-{group['groupName']}", group["template"])
        for group in cluster.get("workerGroupSpecs", [])
    ]
    if "submitterPodTemplate" in job:
        templates.append(("submitter", job["submitterPodTemplate"]))
    return templates


def tool(name: str) -> str:
    """Absolute path of a validator: the dev environment's own, else one on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        hint = "apt-get install kubernetes-client" if name == "kubectl" else "uv sync"
        pytest.fail(f"{name} is not installed ({hint})", pytrace=False)
    return found


@functools.cache
def kubectl() -> str:
    """kubectl with a kustomize that reads today's kustomization fields (v4.1+: labels)."""
    path = tool("kubectl")
    out = subprocess.run(
        [path, "version", "--client"], capture_output=True, text=True, check=False
    ).stdout
    found = re.search(r"Kustomize Version: v(\d+)\.(\d+)", out)
    if found is None or (int(found[1]), int(found[2])) < (4, 1):
        pytest.fail(
            f"{path} is too old to build the overlays (needs kustomize v4.1+, kubectl 1.22+):\n"
            f"{out.strip()}",
            pytrace=False,
        )
    return path


def run_tool(project: BakedProject, *args: str) -> subprocess.CompletedProcess:
    """Run a validator in the project; on failure show everything it said."""
    proc = subprocess.run(args, cwd=project.path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (
        f"`{' '.join(args)}` exited {proc.returncode} in {project.path}:\n"
        f"{proc.stdout}\n{proc.stderr}"
    )
    return proc


class Deployable:
    """A rendered project seen from the delivery side: workflows, overlays, configs."""

    def __init__(self, project: BakedProject) -> None:
        self.project = project
        self.path = project.path
        self.answers = project.answers
        self.slug: str = self.answers["project_slug"]
        self.cloud: str = self.answers["cloud"]
        self.envs = [env.strip() for env in self.answers["environments"].split(",")]

    def workflow_files(self) -> list[Path]:
        folder = self.path / ".github" / "workflows"
        return sorted(folder.glob("*.yml")) if folder.is_dir() else []

    @functools.cache  # noqa: B019 - one Deployable per module-scoped project
    def workflow(self, name: str) -> dict | None:
        path = self.path / ".github" / "workflows" / name
        return yaml.safe_load(path.read_text()) if path.exists() else None

    @functools.cache  # noqa: B019
    def overlay(self, env: str) -> list[dict]:
        """The manifests `kubectl kustomize deploy/k8s/overlays/<env>` builds."""
        proc = run_tool(self.project, kubectl(), "kustomize", f"deploy/k8s/overlays/{env}")
        return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]

    def kinds(self, env: str) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for doc in self.overlay(env):
            found.setdefault(doc["kind"], []).append(doc)
        return found

    def pod_templates(self, env: str) -> list[tuple[str, dict]]:
        """(workload name, pod template) of every Deployment, CronJob and Ray pod."""
        templates = []
        for doc in self.overlay(env):
            if doc["kind"] == "Deployment":
                templates.append((doc["metadata"]["name"], doc["spec"]["template"]))
            elif doc["kind"] == "CronJob":
                template = doc["spec"]["jobTemplate"]["spec"]["template"]
                templates.append((doc["metadata"]["name"], template))
            elif doc["kind"] == "RayCronJob":
                name = doc["metadata"]["name"]
                templates += [(f"{name}/{role}", t) for role, t in ray_pod_templates(doc)]
        return templates

    def pod_specs(self, env: str) -> list[tuple[str, dict]]:
        return [(name, template["spec"]) for name, template in self.pod_templates(env)]

    def pod_labels(self, env: str) -> dict[str, dict[str, str]]:
        return {name: template["metadata"]["labels"] for name, template in self.pod_templates(env)}

    def config(self, env: str) -> dict:
        return yaml.safe_load((self.path / "configs" / f"{env}.yaml").read_text())

    def pyproject(self) -> dict:
        return tomllib.loads((self.path / "pyproject.toml").read_text())


@pytest.fixture(scope="module", params=list(DEPLOY_VARIANTS), ids=list(DEPLOY_VARIANTS))
def deployable(request, cookies_session) -> Deployable:
    return Deployable(bake_project(cookies_session, **DEPLOY_VARIANTS[request.param]))


def triggers(workflow: dict) -> dict:
    """The ``on:`` mapping (YAML 1.1, which PyYAML speaks, reads the key as True)."""
    return workflow.get("on", workflow.get(True))


def steps_of(workflow: dict) -> list[tuple[str, dict, dict]]:
    return [
        (job_id, job, step)
        for job_id, job in workflow["jobs"].items()
        for step in job.get("steps", [])
    ]


# --- GitHub Actions ---------------------------------------------------------------


def test_workflows_pass_zizmor(deployable):
    if not (deployable.path / ".github").is_dir():
        pytest.skip("no .github folder in this variant")
    # --offline: no GitHub API; pedantic: the strictest persona, so nothing is waved through.
    run_tool(
        deployable.project,
        tool("zizmor"),
        "--offline",
        "--no-progress",
        "--persona",
        "pedantic",
        ".github",
    )


def test_github_files_match_their_schemas(deployable):
    checks = [("vendor.github-workflows", deployable.workflow_files())]
    dependabot = deployable.path / ".github" / "dependabot.yml"
    if dependabot.exists():
        checks.append(("vendor.dependabot", [dependabot]))
    checked = 0
    for schema, files in checks:
        if files:
            args = [str(path) for path in files]
            run_tool(
                deployable.project, tool("check-jsonschema"), "--builtin-schema", schema, *args
            )
            checked += len(files)
    if not checked:
        pytest.skip("no GitHub files in this variant")


def test_workflows_follow_the_security_policy(deployable):
    """Pinned actions, no job with more than it needs, no credentials left behind."""
    if not deployable.workflow_files():
        pytest.skip("no workflows in this variant")
    login_action = CLOUD_LOGIN_ACTIONS.get(deployable.cloud)
    for path in deployable.workflow_files():
        text = path.read_text()
        for line in text.splitlines():
            if line.strip().startswith(("- uses:", "uses:")):
                uses = line.split("uses:", 1)[1].strip()
                assert PINNED_USES.match(uses), f"{path.name}: not pinned to a commit: {uses}"
        workflow = yaml.safe_load(text)
        assert workflow["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
        for job_id, job in workflow["jobs"].items():
            where = f"{path.name}:{job_id}"
            assert "timeout-minutes" in job, f"{where} has no timeout"
            assert job.get("permissions", {}).get("contents") == "read", where
            logs_in = login_action is not None and any(
                step.get("uses", "").startswith(login_action) for step in job["steps"]
            )
            assert (job["permissions"].get("id-token") == "write") == logs_in, (
                f"{where}: id-token: write belongs exactly to the jobs that log in to the cloud"
            )
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, where
        assert "concurrency" in workflow or all(
            "concurrency" in job for job in workflow["jobs"].values()
        ), f"{path.name} has no concurrency group"
        assert "secrets.AWS_SECRET_ACCESS_KEY" not in text
        assert "credentials_json" not in text and "creds:" not in text


def test_ci_runs_the_project_checks(deployable):
    ci = deployable.workflow("ci.yml")
    if ci is None:
        pytest.skip("ci=none")
    runs = [step.get("run", "") for _, _, step in steps_of(ci)]
    assert "uv sync --locked" in runs
    assert "make check" in runs
    assert any(run.startswith("uv run --frozen pre-commit run --all-files") for run in runs)
    builds = [step for _, _, step in steps_of(ci) if "build-push-action" in step.get("uses", "")]
    assert builds and all(step["with"]["push"] is False for step in builds)
    assert triggers(ci).keys() >= {"pull_request", "push"}


def test_batch_workflow_schedules_train_and_predict(deployable):
    batch = deployable.workflow("batch.yml")
    scheduled = deployable.answers["scheduler"] == "github-actions"
    assert (batch is not None) == scheduled
    if not scheduled:
        return
    crons = [entry["cron"] for entry in triggers(batch)["schedule"]]
    assert crons == [CRONJOB_SCHEDULES["train"], CRONJOB_SCHEDULES["predict"]]
    inputs = triggers(batch)["workflow_dispatch"]["inputs"]
    assert inputs["job"]["options"] == ["train", "predict"]
    pkg = deployable.answers["package_name"]
    jobs = {step.get("run", ""): step for _, _, step in steps_of(batch)}
    commands = [f'{pkg} "$JOB" --env "$ENVIRONMENT"', f'{pkg} monitor --env "$ENVIRONMENT"']
    for command in commands:
        step = jobs[f"uv run --no-sync {command}"]
        # The store of a deployed environment is a shared database, reached with a secret.
        store = step.get("env", {}).get(f"{pkg.upper()}_STORE__URL")
        postgres = deployable.answers["prediction_store"] == "postgres"
        assert store == ("${{ secrets.STORE_URL }}" if postgres else None), command


def shell_sources(deployable: Deployable) -> dict[str, str]:
    """Every shell script of the project: *.sh, files with a shell shebang, run: steps."""
    scripts: dict[str, str] = {}
    for name, text in deployable.project.text_files().items():
        first = text.split("\n", 1)[0]
        if name.endswith(".sh") or re.match(r"#!.*\b(ba|da)?sh\b", first):
            scripts[name] = text
    for path in deployable.workflow_files():
        workflow = yaml.safe_load(path.read_text())
        for job_id, _, step in steps_of(workflow):
            if "run" in step:
                # An expression is substituted by GitHub before the shell sees it.
                body = ACTIONS_EXPRESSION.sub("expression", step["run"])
                label = f"{path.name}:{job_id}:{step.get('name', step['run'][:30])}"
                scripts[label] = f"#!/usr/bin/env bash\nset -euo pipefail\n{body}\n"
    return scripts


def test_shell_passes_shellcheck(deployable, tmp_path):
    scripts = shell_sources(deployable)
    if not scripts:
        pytest.skip("no shell in this variant")
    files = {}
    for index, (label, text) in enumerate(sorted(scripts.items())):
        path = tmp_path / f"script-{index}.sh"
        path.write_text(text)
        files[str(path)] = label
    proc = subprocess.run(
        [tool("shellcheck"), "--shell=bash", "--format=gcc", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    report = proc.stdout
    for path, label in files.items():
        report = report.replace(path, label)
    assert proc.returncode == 0, f"shellcheck findings:\n{report}{proc.stderr}"


def test_dockerfile_passes_hadolint(deployable):
    dockerfile = deployable.path / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("no Dockerfile in this variant")
    run_tool(deployable.project, tool("hadolint"), "--failure-threshold", "info", "Dockerfile")


# --- Kubernetes -------------------------------------------------------------------


def test_every_overlay_builds_and_validates(deployable):
    overlays = sorted(p.name for p in (deployable.path / "deploy/k8s/overlays").iterdir())
    assert overlays == sorted(deployable.envs)
    for env in deployable.envs:
        for doc in deployable.overlay(env):
            where = f"overlays/{env}: {doc['kind']}/{doc['metadata']['name']}"
            if doc["apiVersion"].startswith("ray.io/"):
                validate_kuberay(doc, where)
                continue
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{where} is invalid: {error.message} at {error.path}", pytrace=False)


def validate_kuberay(doc: dict, where: str) -> None:
    """A KubeRay resource against its vendored CRD schema, its RayJob against RayJob's,
    and each pod template against the Kubernetes PodTemplate schema."""
    errors = kuberay_errors(doc)
    assert not errors, f"{where} breaks the KubeRay v{KUBERAY_VERSION} schema:\n" + "\n".join(
        errors
    )
    assert doc["kind"] == "RayCronJob", f"{where}: predict is scheduled as a RayCronJob"
    rayjob = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": doc["metadata"]["name"]},
        "spec": doc["spec"]["jobTemplate"],
    }
    errors = kuberay_errors(rayjob)
    assert not errors, f"{where}: its RayJob breaks the RayJob schema:\n" + "\n".join(errors)
    # The schemas' CEL rules (x-kubernetes-validations) are not evaluated here: they guard
    # fields the manifest leaves to KubeRay's defaults, and must stay so.
    unchecked = {"deletionStrategy", "managedBy"} & rayjob["spec"].keys()
    unchecked |= {"gcsFaultToleranceOptions", "managedBy"} & rayjob["spec"]["rayClusterSpec"].keys()
    assert not unchecked, f"{where}: {sorted(unchecked)} carry CEL rules this test cannot run"
    for role, template in ray_pod_templates(doc):
        pod_template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": f"{doc['metadata']['name']}-{role}"},
            "template": template,
        }
        try:
            kubernetes_validate.validate(pod_template, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{where}/{role}: {error.message} at {error.path}", pytrace=False)


def test_kuberay_schema_catches_what_the_cluster_would_refuse():
    """The vendored schemas are read strictly: typos and wrong types are errors."""
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCronJob",
        "metadata": {"name": "x"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"entrypoint": "true"}},
    }
    assert kuberay_errors(job) == []
    misspelt = json.loads(json.dumps(job))
    misspelt["spec"]["jobTemplate"]["entryPoint"] = "true"
    assert any("entryPoint" in error for error in kuberay_errors(misspelt))
    no_schedule = json.loads(json.dumps(job))
    del no_schedule["spec"]["schedule"]
    assert any("schedule" in error for error in kuberay_errors(no_schedule))
    bad_cluster = json.loads(json.dumps(job))
    bad_cluster["spec"]["jobTemplate"]["rayClusterSpec"] = {
        "headGroupSpec": {"rayStartParams": {"num-cpus": 0}, "template": {}}
    }
    assert any("rayStartParams" in error for error in kuberay_errors(bad_cluster))
    readme = (KUBERAY_SCHEMAS / "README.md").read_text()
    assert f"v{KUBERAY_VERSION}" in readme and "ray-project/kuberay" in readme


def test_pods_are_locked_down(deployable):
    for env in deployable.envs:
        for name, pod in deployable.pod_specs(env):
            where = f"overlays/{env}: {name}"
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
            assert pod["automountServiceAccountToken"] is False, where
            for container in pod["containers"]:
                security = container["securityContext"]
                assert security["allowPrivilegeEscalation"] is False, where
                assert security["readOnlyRootFilesystem"] is True, where
                assert security["capabilities"]["drop"] == ["ALL"], where
                assert {"requests", "limits"} <= container["resources"].keys(), where
                mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
                assert "/tmp" in mounts, f"{where}: read-only root needs a writable /tmp"


def test_service_manifests_follow_the_serving_option(deployable):
    serving = deployable.answers["serving"] == "fastapi"
    for env in deployable.envs:
        kinds = deployable.kinds(env)
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler"):
            assert (kind in kinds) == serving, f"overlays/{env}: {kind} with serving={serving}"
        if not serving:
            continue
        container = kinds["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        hpa = kinds["HorizontalPodAutoscaler"][0]["spec"]
        assert hpa["scaleTargetRef"]["name"] == kinds["Deployment"][0]["metadata"]["name"]
        assert kinds["Service"][0]["spec"]["selector"].items() <= (
            kinds["Deployment"][0]["spec"]["template"]["metadata"]["labels"].items()
        )


def test_cronjobs_follow_the_scheduler_option(deployable):
    in_cluster = deployable.answers["scheduler"] == "kubernetes"
    on_ray = in_cluster and deployable.answers["compute"] == "ray"
    # With compute=ray, predict is the RayCronJob (test_predict_runs_as_a_kuberay_job).
    schedules = {
        job: s for job, s in CRONJOB_SCHEDULES.items() if not (on_ray and job == "predict")
    }
    for env in deployable.envs:
        cronjobs = deployable.kinds(env).get("CronJob", [])
        if not in_cluster:
            assert not cronjobs, f"overlays/{env} has CronJobs with scheduler != kubernetes"
            continue
        found = {}
        for cronjob in cronjobs:
            container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
            job, *rest = container["args"]
            assert rest == ["--env", "$(ENVIRONMENT)"]
            found[job] = cronjob["spec"]["schedule"]
        assert found == schedules, f"overlays/{env}: {found}"


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) matches."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def secret_name(deployable: Deployable) -> str:
    return f"{deployable.slug}-secrets"


def test_pods_take_secrets_and_thread_counts_from_the_cluster(deployable):
    """Every container reads the Secret and sizes its thread pools from its CPU limit."""
    prefix = deployable.answers["package_name"].upper()
    thread_variables = {f"{prefix}_RUNTIME__THREADS", "OMP_NUM_THREADS"}
    for env in deployable.envs:
        kinds = deployable.kinds(env)
        assert "Secret" not in kinds, f"overlays/{env} commits a Secret"
        for configmap in kinds["ConfigMap"]:
            leaked = [key for key in configmap["data"] if "AUTH__" in key or "STORE__URL" in key]
            assert not leaked, f"overlays/{env}: {leaked} belong in the Secret, not a ConfigMap"
        for name, pod in deployable.pod_specs(env):
            for container in pod["containers"]:
                where = f"overlays/{env}: {name}/{container['name']}"
                sources = [
                    source.get("secretRef", {}).get("name") for source in container["envFrom"]
                ]
                if name.endswith("/submitter"):
                    # It only runs `ray job submit`: the settings, no secrets.
                    assert secret_name(deployable) not in sources, where
                    continue
                assert secret_name(deployable) in sources, f"{where} does not read the Secret"
                fields = {
                    variable["name"]: variable["valueFrom"]["resourceFieldRef"]
                    for variable in container.get("env", [])
                    if "resourceFieldRef" in variable.get("valueFrom", {})
                }
                assert fields.keys() >= thread_variables, f"{where}: {sorted(fields)}"
                for variable in thread_variables:
                    assert fields[variable]["resource"] == "limits.cpu", where
                    assert str(fields[variable]["divisor"]) == "1", where
                assert "cpu" in container["resources"]["limits"], f"{where}: no CPU limit"


def test_network_policies_cover_every_pod(deployable):
    """Each pod has one policy on both directions; only the listed peers and ports are open."""
    slug, postgres = deployable.slug, deployable.answers["prediction_store"] == "postgres"
    for env in deployable.envs:
        policies = deployable.kinds(env).get("NetworkPolicy", [])
        pods = deployable.pod_labels(env)
        for name, labels in pods.items():
            covering = [
                p["metadata"]["name"] for p in policies if selects(p["spec"]["podSelector"], labels)
            ]
            assert len(covering) == 1, f"overlays/{env}: {name} is under policies {covering}"
        component = "app.kubernetes.io/component"
        api_pods = [labels for labels in pods.values() if labels[component] == "api"]
        ray_pods = [labels for labels in pods.values() if labels[component] == RAY_COMPONENT]
        batch_pods = [
            labels for labels in pods.values() if labels not in api_pods and labels not in ray_pods
        ]
        mlflow = deployable.answers["tracking"] == "mlflow"
        for policy in policies:
            where = f"overlays/{env}: NetworkPolicy/{policy['metadata']['name']}"
            spec = policy["spec"]
            assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"], where
            serves = any(selects(spec["podSelector"], labels) for labels in api_pods)
            ray = any(selects(spec["podSelector"], labels) for labels in ray_pods)
            open_ports: set[int | str] = set()
            reaches_mlflow = False
            for rule in spec["egress"]:
                ports = {port["port"] for port in rule.get("ports", [])}
                peers = rule.get("to", [])
                if not peers:
                    open_ports |= ports
                for peer in peers:
                    if "ipBlock" in peer:
                        # The node's workload-identity endpoint, nothing wider.
                        assert peer["ipBlock"]["cidr"].startswith("169.254."), where
                        assert peer["ipBlock"]["cidr"].endswith("/32"), where
                    elif ports == {53}:
                        assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
                    elif ports == {5000}:
                        # The MLflow server, in its own namespace.
                        assert mlflow and peer == {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "mlflow"}
                            }
                        }, where
                        reaches_mlflow = True
                    elif not ports:
                        # The Ray cluster's pods among themselves, every port.
                        assert ray and peer == {"podSelector": spec["podSelector"]}, where
                    else:
                        assert ports == {8000} and not serves and not ray, where
                        assert all(selects(peer["podSelector"], labels) for labels in api_pods)
            assert open_ports == ({443, 5432} if postgres else {443}), f"{where}: {open_ports}"
            assert reaches_mlflow == mlflow, f"{where}: MLflow egress with tracking={mlflow}"
            if ray:
                assert all(selects(spec["podSelector"], labels) for labels in ray_pods), where
                inside, operator = spec["ingress"]
                assert inside == {"from": [{"podSelector": spec["podSelector"]}]}, where
                assert operator["ports"] == [{"protocol": "TCP", "port": 8265}], where
                assert operator["from"][0]["podSelector"]["matchLabels"] == {
                    "app.kubernetes.io/name": "kuberay-operator"
                }, where
                continue
            if not serves:
                assert not spec.get("ingress"), f"{where}: the batch jobs accept no connections"
                continue
            (rule,) = spec["ingress"]
            assert [port["port"] for port in rule["ports"]] == ["http"], where
            namespaces = [peer for peer in rule["from"] if "namespaceSelector" in peer]
            assert [peer["namespaceSelector"]["matchLabels"] for peer in namespaces] == [
                {"kubernetes.io/metadata.name": "ingress-nginx"}
            ], where
            in_namespace = [peer["podSelector"] for peer in rule["from"] if peer not in namespaces]
            assert len(in_namespace) == (1 if batch_pods else 0), where
            for selector in in_namespace:
                assert all(selects(selector, labels) for labels in batch_pods), where
                assert not any(selects(selector, labels) for labels in api_pods), where
                assert not any(selects(selector, labels) for labels in ray_pods), where
        assert bool(api_pods) == (deployable.answers["serving"] == "fastapi")
        if not pods:
            assert not policies, f"overlays/{env}: policies without pods"
        assert all(p["metadata"]["name"].startswith(f"{slug}-") for p in policies)


def test_disruption_budget_keeps_the_service_up(deployable):
    for env in deployable.envs:
        kinds = deployable.kinds(env)
        budgets = kinds.get("PodDisruptionBudget", [])
        if deployable.answers["serving"] != "fastapi":
            assert not budgets, f"overlays/{env}: a PodDisruptionBudget without a service"
            continue
        (budget,) = budgets
        labels = kinds["Deployment"][0]["spec"]["template"]["metadata"]["labels"]
        assert selects(budget["spec"]["selector"], labels), f"overlays/{env}"
        assert not any(
            selects(budget["spec"]["selector"], pod)
            for name, pod in deployable.pod_labels(env).items()
            if name != deployable.slug
        ), f"overlays/{env}: the budget also holds batch pods"
        min_replicas = kinds["HorizontalPodAutoscaler"][0]["spec"]["minReplicas"]
        assert budget["spec"]["maxUnavailable"] < min_replicas, f"overlays/{env}"


def test_dockerfile_limits_native_threads_by_default(deployable):
    dockerfile = deployable.path / "Dockerfile"
    assert re.search(r"^\s*OMP_NUM_THREADS=1\b", dockerfile.read_text(), re.MULTILINE), (
        "the image should start native thread pools at one thread"
    )


# --- One cross-check: names agree everywhere ----------------------------------------


def test_names_agree_across_workflows_manifests_and_configs(deployable):
    slug, cloud, envs = deployable.slug, deployable.cloud, deployable.envs
    owner = deployable.answers["github_owner"].lower()
    image_repo = f"ghcr.io/{owner}/{slug}" if cloud == "none" else slug

    # configs: one per environment, naming itself, storage on the cloud's object store.
    scheme, fs_package = STORAGE[cloud]
    dependencies = " ".join(deployable.pyproject()["project"]["dependencies"])
    for package in ("s3fs", "gcsfs", "adlfs"):
        assert (f'"{package}' in f'"{dependencies}' or f" {package}" in dependencies) == (
            package == fs_package
        ), f"pyproject dependencies and cloud={cloud} disagree about {package}"
    for env in envs:
        config = deployable.config(env)
        assert config["env"] == env
        uris = [config["storage"]["registry_uri"], config["storage"]["reports_uri"]]
        uris.append(config["data"]["predictions_uri"])
        for uri in uris:
            if scheme is None:
                assert "://" not in uri, f"configs/{env}.yaml: {uri} with cloud=none"
            else:
                assert uri.startswith(f"{scheme}://{slug}-{env}/"), f"configs/{env}.yaml: {uri}"

    # manifests: namespace, environment name and image per overlay.
    for env in envs:
        for doc in deployable.overlay(env):
            if doc["kind"] == "Namespace":
                assert doc["metadata"]["name"] == f"{slug}-{env}"
            else:
                assert doc["metadata"]["namespace"] == f"{slug}-{env}", doc["metadata"]
        configmaps = deployable.kinds(env)["ConfigMap"]
        assert [cm["data"]["ENVIRONMENT"] for cm in configmaps] == [env]
        for name, pod in deployable.pod_specs(env):
            for container in pod["containers"]:
                assert container["image"] == f"{image_repo}:{env}", f"{env}/{name}"

    # workflows: the same image name, the cloud's registry, the same environments.
    cd = deployable.workflow("cd.yml")
    if cd is not None:
        assert cd["env"]["IMAGE_NAME"] == slug
        registry = REGISTRY_PATTERNS[cloud].replace("<owner>", re.escape(owner))
        registry = registry.replace("<slug>", re.escape(slug))
        assert re.fullmatch(registry, cd["env"]["REGISTRY"]), cd["env"]["REGISTRY"]
        if cloud == "none":
            assert f"{cd['env']['REGISTRY']}/{slug}" == image_repo
        deploys = [job for job_id, job in cd["jobs"].items() if job_id.startswith("deploy-")]
        assert [job["environment"] for job in deploys] == envs
        assert triggers(cd)["workflow_dispatch"]["inputs"]["environment"]["options"] == envs
        for env, job in zip(envs, deploys, strict=True):
            applies = [step for step in job["steps"] if "kubectl apply -k" in step.get("run", "")]
            assert [step["working-directory"] for step in applies] == [f"deploy/k8s/overlays/{env}"]
            assert "$IMAGE_NAME=$REGISTRY/$IMAGE_NAME:$GITHUB_SHA" in applies[0]["run"]
            # Pods wait for their Secret forever: fail the deployment at once instead.
            checks_secret = f"kubectl get secret {slug}-secrets --namespace {slug}-{env}"
            has_pods = bool(deployable.pod_specs(env))
            assert (checks_secret in applies[0]["run"]) == has_pods, f"{env}: {applies[0]['run']}"
            if deployable.answers["serving"] == "fastapi":
                assert f"deployment/{slug} --namespace {slug}-{env}" in applies[0]["run"]
        assert "push" in deploys[0]["if"]
        assert all("release" in job["if"] for job in deploys[1:])
    ci = deployable.workflow("ci.yml")
    if ci is not None:
        tags = [
            step["with"]["tags"] for _, _, step in steps_of(ci) if "tags" in step.get("with", {})
        ]
        assert tags == [f"{slug}:ci-${{{{ github.sha }}}}"]
    batch = deployable.workflow("batch.yml")
    if batch is not None:
        environment = triggers(batch)["workflow_dispatch"]["inputs"]["environment"]
        assert environment["options"] == envs
        assert environment["default"] == envs[-1]
        scripts = deployable.pyproject()["project"]["scripts"]
        assert deployable.answers["package_name"] in scripts


def terraform_values(module: Path, name: str) -> dict:
    """A Terraform file as Python values (strings without their quotes)."""
    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )
    with (module / name).open(encoding="utf-8") as file:
        return hcl2.load(file, serialization_options=options)


def test_terraform_creates_the_names_the_project_uses(deployable):
    slug, cloud, envs = deployable.slug, deployable.cloud, deployable.envs
    module = deployable.path / "infra" / "terraform"
    assert module.is_dir() == (cloud != "none")
    if cloud == "none":
        return
    shared = terraform_values(module, "terraform.tfvars")
    assert shared["project"] == slug
    assert shared["environments"] == envs  # the first one builds images and owns the state
    assert shared["github_repository"] == f"{deployable.answers['github_owner']}/{slug}"
    tf = {path.name: terraform_values(module, path.name) for path in module.glob("*.tf")}
    locals_ = {key: value for block in tf["storage.tf"]["locals"] for key, value in block.items()}
    outputs = {key: value for block in tf["outputs.tf"]["output"] for key, value in block.items()}
    assert locals_["name"] == locals_["namespace"] == "${var.project}-${var.environment}"
    assert outputs["bucket"]["value"].startswith(f"{STORAGE[cloud][0]}://")
    assert outputs["namespace"]["value"] == "${local.namespace}"
    assert outputs["image"]["value"].endswith("/${var.project}")
    scheme = STORAGE[cloud][0]
    for env in envs:
        given = shared | terraform_values(module, f"environments/{env}.tfvars")
        assert given["environment"] == env
        name = f"{given['project']}-{env}"  # local.name: bucket or container, namespace
        config = deployable.config(env)
        assert config["storage"]["registry_uri"].startswith(f"{scheme}://{name}/")
        namespaces = {doc["metadata"]["name"] for doc in deployable.kinds(env)["Namespace"]}
        assert namespaces == {name}
        if deployable.answers["prediction_store"] == "postgres":
            database = config["store"]["url"].rsplit("/", 1)[1]
            assert given["database_name"] == database, f"{env}: {config['store']['url']}"
    # Every variable a workflow reads is one that `terraform output github_variables` gives.
    used = {
        name
        for path in deployable.workflow_files()
        for name in re.findall(r"\bvars\.([A-Z0-9_]+)", path.read_text())
    }
    assert used <= set(outputs["github_variables"]["value"]), used
    cd = deployable.workflow("cd.yml")
    if cd is not None:
        assert cd["env"]["IMAGE_NAME"] == shared["project"]
        first_deploy = next(
            job for job_id, job in cd["jobs"].items() if job_id.startswith("deploy-")
        )
        assert first_deploy["environment"] == shared["environments"][0]


def test_no_workflow_or_cronjob_without_their_option(deployable):
    names = {path.name for path in deployable.workflow_files()}
    expected = set()
    if deployable.answers["ci"] == "github":
        expected |= {"ci.yml", "cd.yml"}
    if deployable.answers["scheduler"] == "github-actions":
        expected.add("batch.yml")
    assert names == expected
    cronjobs = (deployable.path / "deploy/k8s/base/cronjobs.yaml").exists()
    assert cronjobs == (deployable.answers["scheduler"] == "kubernetes")
    on_ray = cronjobs and deployable.answers["compute"] == "ray"
    assert (deployable.path / "deploy/k8s/base/rayjob.yaml").exists() == on_ray
    assert (deployable.path / "deploy/k8s/base/kustomizeconfig.yaml").exists() == on_ray
    for env in deployable.envs:
        assert ("RayCronJob" in deployable.kinds(env)) == on_ray, env
    if not expected:
        assert not (deployable.path / ".github").exists()


# --- compute=ray and tracking=mlflow on the delivery side -----------------------------


def test_predict_runs_as_a_kuberay_job(deployable):
    """scheduler=kubernetes + compute=ray: predict is a RayCronJob of the project's RayJob.

    A Ray cluster of the service's image (one head, a worker group, the submitter pod), the
    same pod and container security as the service, the environment's settings and
    Secret, scheduled like the predict CronJob it replaces, torn down when it ends.
    """
    if deployable.answers["scheduler"] != "kubernetes" or deployable.answers["compute"] != "ray":
        pytest.skip("predict is a RayJob only with scheduler=kubernetes and compute=ray")
    pkg = deployable.answers["package_name"]
    for env in deployable.envs:
        kinds = deployable.kinds(env)
        (cron,) = kinds["RayCronJob"]
        where = f"overlays/{env}: RayCronJob/{cron['metadata']['name']}"
        assert len(cron["metadata"]["name"]) <= MAX_RAYCRONJOB_NAME, where
        spec = cron["spec"]
        assert spec["schedule"] == CRONJOB_SCHEDULES["predict"], where
        assert spec["timeZone"] == "Etc/UTC", where
        job = spec["jobTemplate"]
        assert job["entrypoint"] == f'{pkg} predict --env "$ENVIRONMENT"', where
        # RayCronJob has no concurrency policy: a run ends before the next one starts.
        assert job["activeDeadlineSeconds"] < 2 * 3600, where
        assert job["shutdownAfterJobFinishes"] is True, where
        assert job["ttlSecondsAfterFinished"] >= 0 and job["backoffLimit"] >= 0, where
        # The submitter pod runs `ray job submit` (K8sJobMode), under the restricted policy.
        assert job["submissionMode"] == "K8sJobMode", where
        cluster = job["rayClusterSpec"]
        assert cluster["headGroupSpec"]["rayStartParams"] == {"num-cpus": "0"}, where
        groups = cluster["workerGroupSpecs"]
        assert groups and all(
            1 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"] for g in groups
        ), where
        # The pods of the service (or of the CronJobs without one) are the reference.
        reference = (kinds.get("Deployment") or kinds["CronJob"])[0]
        ref_pod = (
            reference["spec"]["template"]["spec"]
            if reference["kind"] == "Deployment"
            else reference["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        )
        ref_container = ref_pod["containers"][0]
        configmap = kinds["ConfigMap"][0]["metadata"]["name"]
        assert "ENVIRONMENT" in kinds["ConfigMap"][0]["data"], where
        roles = dict(ray_pod_templates(cron))
        assert {"head", "submitter"} <= roles.keys() and len(roles) >= 3, sorted(roles)
        for role, template in roles.items():
            pod = template["spec"]
            assert pod["securityContext"] == ref_pod["securityContext"], f"{where}/{role}"
            assert pod["serviceAccountName"] == ref_pod["serviceAccountName"], f"{where}/{role}"
            assert pod["automountServiceAccountToken"] is False, f"{where}/{role}"
            assert template["metadata"]["labels"]["app.kubernetes.io/component"] == RAY_COMPONENT
            (container,) = pod["containers"]
            assert container["image"] == ref_container["image"], f"{where}/{role}"
            assert container["securityContext"] == ref_container["securityContext"], role
            configmaps = [
                s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s
            ]
            # kustomize put the generated (hashed) name in: the settings reach the pod.
            assert configmaps == [configmap], f"{where}/{role}: {configmaps}"
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            assert {"cpu", "memory"} <= limits.keys() and {"cpu", "memory"} <= requests.keys()
        head = roles["head"]["spec"]["containers"][0]
        assert {port["containerPort"] for port in head["ports"]} >= {6379, 8265, 10001}


def test_mlflow_reaches_every_pod_and_job(deployable):
    """tracking=mlflow: the URI reaches pods (ConfigMap), jobs (configs) and nothing else."""
    mlflow = deployable.answers["tracking"] == "mlflow"
    kubernetes = deployable.answers["scheduler"] == "kubernetes"
    for env in deployable.envs:
        configmaps = deployable.kinds(env)["ConfigMap"]
        (data,) = [cm["data"] for cm in configmaps]
        assert data.get("MLFLOW_TRACKING_URI") == (MLFLOW_IN_CLUSTER if mlflow else None), env
        configmap = configmaps[0]["metadata"]["name"]
        for name, pod in deployable.pod_specs(env):
            for container in pod["containers"]:
                refs = [
                    s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s
                ]
                assert refs == [configmap], f"overlays/{env}: {name} misses the ConfigMap"
        tracking = deployable.config(env).get("tracking")
        if not mlflow:
            assert tracking is None, f"configs/{env}.yaml: tracking with tracking=none"
            continue
        uri = tracking["uri"]
        assert uri.startswith(("http://", "https://")), f"configs/{env}.yaml: {uri}"
        if kubernetes:
            assert uri == MLFLOW_IN_CLUSTER, f"configs/{env}.yaml: {uri}"
    # Nothing of MLflow in the delivery files of a project without it.
    for path in [*deployable.workflow_files(), deployable.path / "compose.yaml"]:
        if path.exists() and not mlflow:
            assert "mlflow" not in path.read_text().lower(), path.name


def test_batch_workflow_reads_cluster_and_server_from_settings(deployable):
    """scheduler=github-actions: predict attaches to the Ray cluster of configs/<env>.yaml."""
    batch = deployable.workflow("batch.yml")
    if batch is None:
        pytest.skip("no batch workflow")
    ray = deployable.answers["compute"] == "ray"
    text = (deployable.path / ".github/workflows/batch.yml").read_text()
    # The address lives in the settings; the workflow adds no cluster of its own.
    assert "RAY_ADDRESS" not in text and "COMPUTE__ADDRESS" not in text
    for env in deployable.envs:
        compute = deployable.config(env).get("compute")
        if not ray:
            assert compute is None, f"configs/{env}.yaml: compute with compute=local"
            continue
        assert compute["address"].startswith("ray://"), f"configs/{env}.yaml: {compute}"
    (run,) = [step for _, _, step in steps_of(batch) if step.get("name") == "Run the job"]
    assert (run.get("env", {}).get("RAY_USAGE_STATS_ENABLED") == "0") == ray
    # The model registry lives in MLflow with tracking=mlflow: no Actions cache of it.
    caches = [s for _, _, s in steps_of(batch) if s.get("uses", "").startswith("actions/cache@")]
    registry_in_cache = deployable.cloud == "none" and deployable.answers["tracking"] == "none"
    assert bool(caches) == registry_in_cache


def test_compose_runs_mlflow_beside_the_service(deployable):
    """tracking=mlflow: an MLflow server beside the service, backend and artifacts per variant."""
    compose_file = deployable.path / "compose.yaml"
    if not compose_file.exists():
        pytest.skip("no compose.yaml without a service")
    run_tool(
        deployable.project,
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        "compose.yaml",
    )
    compose = yaml.safe_load(compose_file.read_text())
    services = compose["services"]
    mlflow = deployable.answers["tracking"] == "mlflow"
    postgres = deployable.answers["prediction_store"] == "postgres"
    assert ("mlflow" in services) == mlflow
    api = services["api"]
    if not mlflow:
        assert "MLFLOW_TRACKING_URI" not in api["environment"]
        return
    server = services["mlflow"]
    assert api["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert api["depends_on"]["mlflow"] == {"condition": "service_healthy"}
    # The project's own image (mlflow is one of its dependencies), its CLI as entrypoint.
    assert server["image"] == api["image"] and server["build"] == api["build"]
    assert server["entrypoint"] == ["mlflow"]
    args = dict(arg.removeprefix("--").split("=", 1) for arg in server["command"][1:])
    assert server["command"][0] == "server" and args["port"] == "5000"
    assert "mlflow:5000" in args["allowed-hosts"].split(",")
    assert server["ports"] == ["127.0.0.1:5000:5000"]
    assert "/health" in " ".join(server["healthcheck"]["test"])
    if postgres:
        assert args["backend-store-uri"] == "postgresql+psycopg://postgres:postgres@db:5432/mlflow"
        assert server["depends_on"]["db"] == {"condition": "service_healthy"}
        (init,) = services["db"]["configs"]
        assert init["target"].startswith("/docker-entrypoint-initdb.d/")
        assert compose["configs"][init["source"]]["content"] == "CREATE DATABASE mlflow;"
    else:
        assert args["backend-store-uri"] == "sqlite:////app/artifacts/mlflow.db"
    assert "mlflow-data:/app/artifacts" in server["volumes"]
    bucket = f"{deployable.slug}-{deployable.envs[0]}"
    destination = args["artifacts-destination"]
    expected = {
        "none": "/app/artifacts/mlflow",
        "aws": f"${{MLFLOW_ARTIFACTS_DESTINATION:-s3://{bucket}/mlflow}}",
        "gcp": f"${{MLFLOW_ARTIFACTS_DESTINATION:-gs://{bucket}/mlflow}}",
    }
    if deployable.cloud == "azure":
        assert destination.startswith(f"${{MLFLOW_ARTIFACTS_DESTINATION:-wasbs://{bucket}@")
    else:
        assert destination == expected[deployable.cloud]
    # Credentials come from the caller's environment, never from the file.
    for key, value in server["environment"].items():
        if any(word in key for word in ("KEY", "SECRET", "TOKEN", "CONNECTION_STRING")):
            assert value == f"${{{key}:-}}", f"{key} is written in compose.yaml"
