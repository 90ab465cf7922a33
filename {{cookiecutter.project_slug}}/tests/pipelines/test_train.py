import pandas as pd
import pytest
from structlog.testing import capture_logs

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.data import DataError
from {{cookiecutter.package_name}}.pipelines.train import MetricGateError, train
from {{cookiecutter.package_name}}.registry import Registry
from {{cookiecutter.package_name}}.settings import Settings, TrainingSettings


def test_train_registers_a_model_and_writes_a_report(memory_settings: Settings) -> None:
    with capture_logs() as logs:
        result = train(memory_settings)

    registry = Registry(memory_settings.storage.registry_uri, memory_settings.model.name)
    assert registry.aliases() == {"test": result.card.version}
    assert result.card.metrics["roc_auc"] >= memory_settings.training.min_roc_auc
    assert set(result.card.metrics) == {"roc_auc", "accuracy", "precision", "recall", "f1"}
    report = io.read_text(result.report_uri)
    for section in ("Confusion matrix", "ROC curve", "feature importance", "roc_auc"):
        assert section in report or section.lower() in report.lower()
    assert report.count("data:image/png;base64,") == 3
    steps = [entry["step"] for entry in logs if entry["event"] == "step.time"]
    assert steps == ["load_raw", "clean", "build_features", "train"]


def test_metric_gate_blocks_registration(memory_settings: Settings) -> None:
    strict = memory_settings.model_copy(update={"training": TrainingSettings(min_roc_auc=0.999)})
    with pytest.raises(MetricGateError, match=r"below training.min_roc_auc 0.999"):
        train(strict)
    assert Registry(strict.storage.registry_uri, strict.model.name).versions() == []


def test_training_data_must_carry_the_label(
    memory_settings: Settings, customers: pd.DataFrame
) -> None:
    io.write_table(memory_settings.data.train_uri, customers.drop(columns=["churned"]))
    with pytest.raises(DataError, match="no 'churned' column"):
        train(memory_settings)


def test_single_class_data_fails_the_gate_and_registers_nothing(
    memory_settings: Settings, customers: pd.DataFrame
) -> None:
    registry = Registry(memory_settings.storage.registry_uri, memory_settings.model.name)
    first = train(memory_settings).card
    io.write_table(memory_settings.data.train_uri, customers.assign(churned=0))

    with pytest.raises(MetricGateError, match=r"roc_auc undefined \(NaN\)"):
        train(memory_settings)
    assert registry.versions() == [first.version]
    assert registry.resolve("latest") == first
    assert registry.resolve(memory_settings.env) == first


@pytest.mark.parametrize(
    ("rows", "labels", "reason"),
    [
        (0, [], "0 row"),
        (3, [0, 1, 0], "too few"),
        (40, [1] + [0] * 39, r"1: 1\)"),
    ],
    ids=["header-only", "three-rows", "one-member-class"],
)
def test_too_little_data_to_split_is_a_data_error(
    memory_settings: Settings, customers: pd.DataFrame, rows: int, labels: list[int], reason: str
) -> None:
    io.write_table(memory_settings.data.train_uri, customers.head(rows).assign(churned=labels))
    with pytest.raises(DataError, match=reason):
        train(memory_settings)
    registry = Registry(memory_settings.storage.registry_uri, memory_settings.model.name)
    assert registry.versions() == []
