from pathlib import Path

import pytest

from {{cookiecutter.package_name}}.contracts import TASK
from {{cookiecutter.package_name}}.settings import (
    DEFAULT_GATES,
    ENV_PREFIX,
    LOWER_IS_BETTER,
    TASK_METRICS,
    Metric,
    SettingsError,
    TrainingSettings,
    load_settings,
)

CONFIGS = Path("configs")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_config_loads(path: Path) -> None:
    settings = load_settings(path.stem)
    assert settings.env == path.stem


def test_the_gate_defaults_to_the_tasks_first_metric() -> None:
    training = load_settings("local").training
    assert training.metric == TASK_METRICS[TASK][0]
    assert training.gate is None
    assert training.threshold == DEFAULT_GATES[training.metric]


@pytest.mark.parametrize("metric", TASK_METRICS[TASK])
def test_the_gate_is_a_minimum_or_a_maximum_and_nan_never_passes(metric: Metric) -> None:
    gate = TrainingSettings(metric=metric, gate=0.5)
    lower_is_better = metric in LOWER_IS_BETTER
    assert gate.passes(0.4) is lower_is_better
    assert gate.passes(0.6) is not lower_is_better
    assert gate.passes(0.5)
    assert not gate.passes(float("nan"))


def test_environment_variables_override_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    metric = TASK_METRICS[TASK][-1]
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__METRIC", metric)
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__GATE", "0.65")
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__CHUNK_ROWS", "10")
    settings = load_settings("local")
    assert (settings.training.metric, settings.training.threshold) == (metric, 0.65)
    assert settings.data.chunk_rows == 10


def test_a_metric_of_another_task_names_the_tasks_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    other = next(
        metric
        for metrics in TASK_METRICS.values()
        for metric in metrics
        if metric not in TASK_METRICS[TASK]
    )
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__METRIC", other)
    known = ", ".join(TASK_METRICS[TASK])
    with pytest.raises(
        SettingsError, match=rf"training: .*{other}' does not fit the {TASK} task.*{known}"
    ):
        load_settings("local")


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(SettingsError, match=r"unknown environment 'qa'.*known: .*local"):
        load_settings("qa")


def test_invalid_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}MONITORING__MIN_ACCURACY", "1.5")
    with pytest.raises(
        SettingsError, match=r"monitoring\.min_accuracy: .*less than or equal to 1 \(got '1\.5'\)"
    ):
        load_settings("local")


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    config = (CONFIGS / "local.yaml").read_text() + "trainig:\n  test_size: 0.3\n"
    (tmp_path / "local.yaml").write_text(config)
    with pytest.raises(SettingsError, match=r"trainig: Extra inputs are not permitted"):
        load_settings("local", tmp_path)


def test_env_key_must_match_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text((CONFIGS / "local.yaml").read_text())
    with pytest.raises(SettingsError, match="key 'env' is 'local', expected 'other'"):
        load_settings("other", tmp_path)
