from pathlib import Path

import pytest

from {{cookiecutter.package_name}}.settings import ENV_PREFIX, SettingsError, load_settings

CONFIGS = Path("configs")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_config_loads(path: Path) -> None:
    settings = load_settings(path.stem)
    assert settings.env == path.stem


def test_environment_variables_override_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__MIN_ROC_AUC", "0.9")
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__CHUNK_ROWS", "10")
    settings = load_settings("local")
    assert settings.training.min_roc_auc == 0.9
    assert settings.data.chunk_rows == 10


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(SettingsError, match=r"unknown environment 'qa'.*known: .*local"):
        load_settings("qa")


def test_invalid_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__MIN_ROC_AUC", "1.5")
    with pytest.raises(SettingsError, match=r"training\.min_roc_auc: .*less than or equal to 1"):
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
