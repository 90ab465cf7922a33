"""A cloud environment's configuration on a machine without that cloud.

Metadata servers point at a closed local port and credentials are cleared, as on a
laptop; the subprocess timeout bounds each run (a hang fails the test).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from {{cookiecutter.package_name}}.cli import ExitCode
from {{cookiecutter.package_name}}.contracts import SAMPLE_URI
from {{cookiecutter.package_name}}.settings import ENV_PREFIX, load_settings
from .conftest import PROJECT_ROOT

CLOUD_ENV = next(
    path.stem for path in sorted((PROJECT_ROOT / "configs").glob("*.yaml")) if path.stem != "local"
)
CLEARED = ("GOOGLE_", "GCLOUD", "CLOUDSDK", "AWS_", "AZURE_")
OFFLINE = {
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:9",
    "IDENTITY_ENDPOINT": "http://127.0.0.1:9",
    "IMDS_ENDPOINT": "http://127.0.0.1:9",
}


def laptop(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without cloud credentials, metadata servers closed."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(CLEARED) and not key.startswith(ENV_PREFIX)
    }
    return kept | OFFLINE | {"HOME": str(home)} | extra


def run(args: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args]
    return subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def storage_uri() -> str:
    return load_settings(CLOUD_ENV).storage.registry_uri


def fake_credentials(home: Path) -> dict[str, str]:
    """Credentials that look real to each SDK but cannot work here."""
    adc = home / "adc.json"
    user = {"type": "authorized_user", "client_id": "x", "client_secret": "y", "refresh_token": "z"}
    adc.write_text(json.dumps(user))
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": str(adc),
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AZURE_STORAGE_ACCOUNT_NAME": "example",
    }


@pytest.mark.parametrize("credentials", ["none", "unusable"])
def test_cloud_environment_without_cloud_fails_fast_with_one_line(
    tmp_path: Path, credentials: str
) -> None:
    extra = fake_credentials(tmp_path) if credentials == "unusable" else {}
    result = run(["predict", "--env", CLOUD_ENV], laptop(tmp_path, **extra))

    assert result.returncode == ExitCode.STORAGE, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    bucket = storage_uri().split("/")[2]
    assert bucket in errors[0]
    assert "point the URI settings at local paths" in errors[0]


def test_cloud_environment_runs_on_local_paths_with_overrides(tmp_path: Path) -> None:
    local = {
        f"{ENV_PREFIX}DATA__TRAIN_URI": SAMPLE_URI,
        f"{ENV_PREFIX}DATA__PREDICT_INPUT_URI": SAMPLE_URI,
        f"{ENV_PREFIX}DATA__PREDICTIONS_URI": str(tmp_path / "predictions.csv"),
        f"{ENV_PREFIX}STORAGE__REGISTRY_URI": str(tmp_path / "registry"),
        f"{ENV_PREFIX}STORAGE__REPORTS_URI": str(tmp_path / "reports"),
        f"{ENV_PREFIX}STORE__URL": f"sqlite:///{tmp_path / 'store.db'}",
        f"{ENV_PREFIX}MODEL__MAX_ITER": "20",
    }
    environment = laptop(tmp_path, **local)
    trained = run(["train", "--env", CLOUD_ENV], environment)
    assert trained.returncode == ExitCode.OK, trained.stderr[-3000:]
    scored = run(["predict", "--env", CLOUD_ENV], environment)
    assert scored.returncode == ExitCode.OK, scored.stderr[-3000:]
    assert (tmp_path / "predictions.csv").is_file()
