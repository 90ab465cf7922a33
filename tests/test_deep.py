"""Deep layer: a rendered project installs, passes its own checks, trains and predicts.

Runs the project's stable make interface the way a new user would, with a clean
environment (not this dev env's virtualenv). Uses the shared uv cache, so only the
first run downloads packages: about a minute per variant with a warm cache.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from conftest import BakedProject, bake_project, project_env
from variants import VARIANTS

pytestmark = pytest.mark.deep

DEEP_VARIANTS = ["default"]


def _local_path(project: BakedProject, uri: str) -> Path:
    path = Path(uri.removeprefix("file://"))
    return path if path.is_absolute() else project.path / path


def _count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


@pytest.mark.parametrize("variant", DEEP_VARIANTS)
def test_install_check_train_predict(cookies, variant):
    project = bake_project(cookies, **VARIANTS[variant])
    env = project_env()

    for target in ("install", "check", "train", "predict"):
        project.run(["make", target], env=env)

    config = yaml.safe_load((project.path / "configs" / "local.yaml").read_text())
    data = config["data"]
    predictions = _local_path(project, data["predictions_uri"])
    assert predictions.is_file(), f"make predict wrote no {predictions}"
    scored = _local_path(project, data["predict_input_uri"])
    assert _count_rows(predictions) == _count_rows(scored)
