"""The command line end to end on the shipped sample data and configs/local.yaml."""

{% if cookiecutter.tracking == "none" -%}
import json
import pickle
{% endif -%}
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from {{cookiecutter.package_name}}.cli import ExitCode, main
from {{cookiecutter.package_name}}.contracts import (
    ID_COLUMN,
    SAMPLE_URI,
    TARGET_COLUMN,
    allowed_values,
    clean_contract,
)
{%- if cookiecutter.tracking == "mlflow" %}
from {{cookiecutter.package_name}}.registry import open_registry
{%- endif %}
from {{cookiecutter.package_name}}.settings import (
    ENV_PREFIX,
    LOWER_IS_BETTER,
    TrainingSettings,
    load_settings,
)
from .conftest import PROJECT_ROOT, fresh_store_url, refused_values

SAMPLE = Path(SAMPLE_URI)


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Path:
    """Point every output of the local config at a temporary folder (and a fresh store)."""
    monkeypatch.setenv(f"{ENV_PREFIX}STORE__URL", store_url)
    monkeypatch.setenv(f"{ENV_PREFIX}STORAGE__REGISTRY_URI", str(tmp_path / "registry"))
    monkeypatch.setenv(f"{ENV_PREFIX}STORAGE__REPORTS_URI", str(tmp_path / "reports"))
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__PREDICTIONS_URI", str(tmp_path / "predictions.csv"))
{%- if cookiecutter.tracking == "mlflow" %}
    # MLflow's database lives in the registry folder: copying a trained one copies it.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}")
{%- endif %}
    return tmp_path


def test_train_then_predict_on_the_sample(
    artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--env", "local"]) == ExitCode.OK
    name = load_settings("local").model.name
    assert f"registered {name} v1 as 'local'" in capsys.readouterr().out
    assert (artifacts / "reports" / "train-v1.html").is_file()

    assert main(["predict", "--env", "local"]) == ExitCode.OK
    scored = pd.read_csv(artifacts / "predictions.csv")
    assert len(scored) == len(pd.read_csv(SAMPLE))


def test_contract_violation_exits_with_a_report(
    artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train"]) == ExitCode.OK
    name, value = next(iter(refused_values().items()))
    broken = pd.read_csv(SAMPLE).head(50).astype(object)
    broken.at[7, name] = value
    broken.to_csv(artifacts / "broken.csv", index=False)
    output = artifacts / "out.csv"

    code = main(["predict", "--input", str(artifacts / "broken.csv"), "--output", str(output)])

    assert code == ExitCode.CONTRACT
    stderr = capsys.readouterr().err
    assert "data contract violated" in stderr
    assert repr(name) in stderr
    if value is not None:
        assert str(value) in stderr
    if ID_COLUMN is not None:
        assert str(broken.at[7, ID_COLUMN]) in stderr
    assert not output.exists()
    assert list(artifacts.glob("*.partial")) == []


def test_metric_gate_exit_code(
    artifacts: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = -1.0 if TrainingSettings().metric in LOWER_IS_BETTER else 1.5
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__GATE", str(unreachable))
    assert main(["train"]) == ExitCode.METRIC_GATE
    assert "model not registered" in capsys.readouterr().err
{%- if cookiecutter.tracking == "mlflow" %}
    assert open_registry(load_settings("local")).versions() == []
{%- else %}
    assert not (artifacts / "registry").exists()
{%- endif %}


def test_predict_without_model_exits_with_advice(
    artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict"]) == ExitCode.REGISTRY
    assert "train one first" in capsys.readouterr().err


def test_bad_settings_exit_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--env", "nowhere"]) == ExitCode.SETTINGS
    assert "unknown environment 'nowhere'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "read"), [("big.csv", pd.read_csv), ("big.parquet", pd.read_parquet)]
)
def test_generate_writes_the_requested_rows(
    tmp_path: Path, name: str, read: Callable[[Path], pd.DataFrame]
) -> None:
    output = tmp_path / name
    assert main(["generate", "--rows", "1234", "--output", str(output), "--no-label"]) == 0
    frame = read(output)
    assert len(frame) == 1234
    assert TARGET_COLUMN not in frame.columns
    assert (
        frame.columns.tolist()
        == pd.read_csv(SAMPLE, nrows=0).drop(columns=[TARGET_COLUMN]).columns.tolist()
    )


def one_line_error(stderr: str) -> str:
    """The `error:` line of a failed command; fails the test on a traceback."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-2000:]
    return errors[0]


HEADER = pd.read_csv(SAMPLE, nrows=0).to_csv(index=False)
BAD_FILES: dict[str, bytes] = {
    "empty": b"",
    "latin-1": f"{HEADER}C\xe9,1\n".encode("latin-1"),
    "binary": bytes(range(256)) * 4,
    "malformed": f'{HEADER}"C1,1\nC2,2,3,4\n'.encode(),
    "not-a-table": b"hello",
}
REASONS = {
    "empty": "empty file",
    "latin-1": "not UTF-8",
    "binary": "not a readable CSV",
    "malformed": "not a readable CSV",
    "not-a-table": "data contract violated",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["train", "predict"])
def test_unreadable_input_exits_with_the_data_code_and_one_line(
    artifacts: Path,
    trained_registry: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    command: str,
) -> None:
    path = artifacts / f"{name}.csv"
    path.write_bytes(BAD_FILES[name])
    if command == "train":
        monkeypatch.setenv(f"{ENV_PREFIX}DATA__TRAIN_URI", str(path))
        argv = ["train"]
    else:
        shutil.copytree(trained_registry, artifacts / "registry")
        argv = ["predict", "--input", str(path)]
    code = main(argv)
    assert code == ExitCode.DATA
    error = one_line_error(capsys.readouterr().err)
    assert REASONS[name] in error
    if name != "not-a-table":
        assert str(path) in error


def test_missing_input_file_is_named(
    artifacts: Path, trained_registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(trained_registry, artifacts / "registry")
    missing = artifacts / "nowhere.csv"
    assert main(["predict", "--input", str(missing)]) == ExitCode.DATA
    assert f"{missing}: no such file" in one_line_error(capsys.readouterr().err)

{%- if cookiecutter.tracking == "none" %}


def test_corrupt_registry_exits_with_the_registry_code(
    artifacts: Path, trained_registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(trained_registry, artifacts / "registry")
    model = next((artifacts / "registry").glob("*/v1/model.skops"))
    metadata = model.with_name("metadata.json")
    card = json.loads(metadata.read_text())

    model.write_bytes(pickle.dumps({"model": 1}))
    assert main(["predict"]) == ExitCode.REGISTRY
    assert "sha256" in one_line_error(capsys.readouterr().err)

    metadata.write_text(json.dumps(card | {"metrics": {"roc_auc": None}}))
    assert main(["predict"]) == ExitCode.REGISTRY
    assert "v1: unreadable" in one_line_error(capsys.readouterr().err)

    model.unlink()
    metadata.write_text(json.dumps(card))
    assert main(["predict"]) == ExitCode.REGISTRY
    assert "model.skops is missing" in one_line_error(capsys.readouterr().err)
{%- endif %}


def test_a_huge_field_is_not_echoed_in_full(
    artifacts: Path, trained_registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(trained_registry, artifacts / "registry")
    broken = pd.read_csv(SAMPLE).head(20).astype(object)
    broken.iat[3, 1] = "z" * 2_000_000
    broken.to_csv(artifacts / "huge.csv", index=False)

    code = main(["predict", "--input", str(artifacts / "huge.csv")])

    captured = capsys.readouterr()
    assert code == ExitCode.DATA
    assert "2000000 characters" in captured.err
    assert len(captured.err) + len(captured.out) < 20_000


@pytest.mark.skipif(ID_COLUMN is None, reason="the table has no id column")
def test_duplicate_ids_are_reported(
    artifacts: Path, trained_registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(trained_registry, artifacts / "registry")
    sample = pd.read_csv(SAMPLE)
    pd.concat([sample, sample.head(3)]).to_csv(artifacts / "doubled.csv", index=False)
    assert main(["predict", "--input", str(artifacts / "doubled.csv")]) == ExitCode.OK
    assert "dropped 3 rows whose id was already scored" in capsys.readouterr().out


# Values the contract knows (categories), so some generated rows get past the contract.
KNOWN_VALUES = sorted(
    {
        str(value)
        for column in clean_contract.columns.values()
        for value in allowed_values(column) or ()
    }
)
csv_text = st.lists(
    st.lists(
        st.one_of(
            st.text(max_size=8),
            st.integers(-5, 2000).map(str),
            st.sampled_from([*KNOWN_VALUES, "C1", "nan", "", '"', "1e400"]),
        ),
        min_size=1,
        max_size=10,
    ),
    max_size=6,
).map(lambda rows: "\n".join([HEADER.rstrip("\n")] + [",".join(row) for row in rows]))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(payload=st.one_of(st.binary(max_size=300), csv_text.map(str.encode)))
def test_any_input_file_gives_a_documented_exit_code(
    payload: bytes, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scratch / "input.csv"
    path.write_bytes(payload)
    code = main(["predict", "--input", str(path), "--output", str(scratch / "out.csv")])
    captured = capsys.readouterr()
    assert code in {ExitCode.OK, ExitCode.DATA}
    if code == ExitCode.DATA:
        one_line_error(captured.err)
    assert not list(scratch.glob("*.partial"))


@pytest.fixture(scope="module")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train once on the sample; tests copy this registry instead of training again."""
    folder = tmp_path_factory.mktemp("trained")
    patch = pytest.MonkeyPatch()
    patch.chdir(PROJECT_ROOT)
    patch.setenv(f"{ENV_PREFIX}STORAGE__REGISTRY_URI", str(folder / "registry"))
    patch.setenv(f"{ENV_PREFIX}STORAGE__REPORTS_URI", str(folder / "reports"))
    patch.setenv(f"{ENV_PREFIX}MODEL__MAX_ITER", "20")
{%- if cookiecutter.tracking == "mlflow" %}
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'registry' / 'mlflow.db'}")
{%- endif %}
    try:
        assert main(["train"]) == ExitCode.OK
    finally:
        patch.undo()
    return folder / "registry"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path) -> Iterator[Path]:
    """A trained local setup shared by generated cases (one training, many inputs)."""
    folder = tmp_path_factory.mktemp("generated")
    shutil.copytree(trained_registry, folder / "registry")
    patch = pytest.MonkeyPatch()
    with fresh_store_url(folder) as store_url:
        patch.setenv(f"{ENV_PREFIX}STORE__URL", store_url)
        patch.setenv(f"{ENV_PREFIX}STORAGE__REGISTRY_URI", str(folder / "registry"))
        patch.setenv(f"{ENV_PREFIX}STORAGE__REPORTS_URI", str(folder / "reports"))
{%- if cookiecutter.tracking == "mlflow" %}
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'registry' / 'mlflow.db'}")
{%- endif %}
        try:
            yield folder
        finally:
            patch.undo()
