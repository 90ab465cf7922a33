"""The command line end to end on the shipped sample data and configs/local.yaml."""

from pathlib import Path

import pandas as pd
import pytest

from {{cookiecutter.package_name}}.cli import ExitCode, main
from {{cookiecutter.package_name}}.settings import ENV_PREFIX

SAMPLE = Path("data/sample/customers.csv")


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Path:
    """Point every output of the local config at a temporary folder (and a fresh store)."""
    monkeypatch.setenv(f"{ENV_PREFIX}STORE__URL", store_url)
    monkeypatch.setenv(f"{ENV_PREFIX}STORAGE__REGISTRY_URI", str(tmp_path / "registry"))
    monkeypatch.setenv(f"{ENV_PREFIX}STORAGE__REPORTS_URI", str(tmp_path / "reports"))
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__PREDICTIONS_URI", str(tmp_path / "predictions.csv"))
    return tmp_path


def test_train_then_predict_on_the_sample(
    artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--env", "local"]) == ExitCode.OK
    assert "registered churn-classifier v1 as 'local'" in capsys.readouterr().out
    assert (artifacts / "reports" / "train-v1.html").is_file()

    assert main(["predict", "--env", "local"]) == ExitCode.OK
    scored = pd.read_csv(artifacts / "predictions.csv")
    assert len(scored) == len(pd.read_csv(SAMPLE))


def test_contract_violation_exits_with_a_report(
    artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train"]) == ExitCode.OK
    broken = pd.read_csv(SAMPLE).head(50)
    broken.loc[7, "contract"] = "lifetime"
    broken.to_csv(artifacts / "broken.csv", index=False)
    output = artifacts / "out.csv"

    code = main(["predict", "--input", str(artifacts / "broken.csv"), "--output", str(output)])

    assert code == ExitCode.CONTRACT
    stderr = capsys.readouterr().err
    assert "data contract violated" in stderr
    assert "'contract'" in stderr
    assert "lifetime" in stderr
    assert str(broken.at[7, "customer_id"]) in stderr
    assert not output.exists()
    assert list(artifacts.glob("*.partial")) == []


def test_metric_gate_exit_code(
    artifacts: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__MIN_ROC_AUC", "0.999")
    assert main(["train"]) == ExitCode.METRIC_GATE
    assert "model not registered" in capsys.readouterr().err
    assert not (artifacts / "registry").exists()


def test_predict_without_model_exits_with_advice(
    artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict"]) == ExitCode.REGISTRY
    assert "train one first" in capsys.readouterr().err


def test_bad_settings_exit_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--env", "nowhere"]) == ExitCode.SETTINGS
    assert "unknown environment 'nowhere'" in capsys.readouterr().err


def test_generate_writes_the_requested_rows(tmp_path: Path) -> None:
    output = tmp_path / "big.csv"
    assert main(["generate", "--rows", "1234", "--output", str(output), "--no-label"]) == 0
    frame = pd.read_csv(output)
    assert len(frame) == 1234
    assert "churned" not in frame.columns
