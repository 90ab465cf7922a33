import hashlib
import json

import pandas as pd
import pytest
import skops.io as sio

from {{cookiecutter.package_name}} import data, io
from {{cookiecutter.package_name}}.model import GradientBoostingModel, UntrustedModelError
from {{cookiecutter.package_name}}.registry import IntegrityError, ModelNotFoundError, Registry
from {{cookiecutter.package_name}}.settings import ModelSettings


@pytest.fixture
def fitted(customers: pd.DataFrame) -> GradientBoostingModel:
    features, target = data.split_target(
        data.build_features(data.clean(data.validate_raw(customers)))
    )
    return GradientBoostingModel(ModelSettings(max_iter=20)).fit(features, target)


@pytest.fixture
def registry(memory_root: str) -> Registry:
    return Registry(io.join(memory_root, "registry"), "churn")


def test_register_versions_and_aliases(registry: Registry, fitted: GradientBoostingModel) -> None:
    first = registry.register(fitted, {"roc_auc": 0.8}, "abc", {"max_iter": 20})
    second = registry.register(fitted, {"roc_auc": 0.9}, "def", {"max_iter": 20})
    assert (first.version, second.version) == (1, 2)
    assert registry.versions() == [1, 2]

    registry.set_alias("dev", 1)
    registry.set_alias("prod", 2)
    assert registry.aliases() == {"dev": 1, "prod": 2}
    assert registry.resolve("dev").metrics == {"roc_auc": 0.8}
    assert registry.resolve("latest").version == 2
    assert registry.resolve("v1").data_fingerprint == "abc"
    assert len(registry.card(2).sha256) == 64
    assert registry.card(2).code_version.startswith("0.1.0")


def test_loaded_model_predicts_like_the_original(
    registry: Registry, fitted: GradientBoostingModel, customers: pd.DataFrame
) -> None:
    card = registry.register(fitted, {}, "abc", {})
    registry.set_alias("dev", card.version)
    loaded, loaded_card = registry.load("dev")
    features = data.build_features(data.clean(data.validate_raw(customers)))
    assert loaded_card == card
    assert (loaded.predict_proba(features) == fitted.predict_proba(features)).all()


def test_tampered_artifact_is_refused(registry: Registry, fitted: GradientBoostingModel) -> None:
    card = registry.register(fitted, {}, "abc", {})
    model_uri = io.join(registry.root, f"v{card.version}", "model.skops")
    io.write_bytes(model_uri, io.read_bytes(model_uri) + b"\0")
    with pytest.raises(IntegrityError, match="does not match the recorded"):
        registry.load("v1")


def test_untrusted_types_are_refused(registry: Registry, fitted: GradientBoostingModel) -> None:
    card = registry.register(fitted, {}, "abc", {})
    payload = sio.dumps({"model": fitted.pipeline, "hook": pd.Timestamp("2020-01-01")})
    base = io.join(registry.root, f"v{card.version}")
    io.write_bytes(io.join(base, "model.skops"), payload)
    metadata = json.loads(io.read_text(io.join(base, "metadata.json")))
    metadata["sha256"] = hashlib.sha256(payload).hexdigest()
    io.write_text(io.join(base, "metadata.json"), json.dumps(metadata))
    with pytest.raises(UntrustedModelError, match="untrusted types"):
        registry.load("v1")


def test_unknown_alias_says_what_exists(registry: Registry, fitted: GradientBoostingModel) -> None:
    registry.set_alias("dev", registry.register(fitted, {}, "abc", {}).version)
    with pytest.raises(ModelNotFoundError, match=r"alias 'prod'.*aliases: \['dev'\]"):
        registry.resolve("prod")
    with pytest.raises(ModelNotFoundError, match="no version 7"):
        registry.set_alias("prod", 7)
