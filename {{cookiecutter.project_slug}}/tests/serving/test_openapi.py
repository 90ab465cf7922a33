"""The OpenAPI schema matches what the service does: schemathesis, every check.

Schemathesis generates valid and invalid requests for every operation from the schema
at /openapi.json and checks each answer: no server error, a documented status code,
content type and headers, a body that matches the documented schema, valid data
accepted, invalid data rejected, authentication enforced where the schema declares it.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis import CheckFunction, GenerationMode
from schemathesis.checks import positive_data_acceptance

from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.settings import (
    AuthSettings,
    DataSettings,
    Settings,
    StorageSettings,
    StoreSettings,
)
from tests.conftest import fresh_store_url
from tests.serving.conftest import ADMIN_KEY, PREDICT_KEY


@pytest.fixture(scope="module")
def app(registry_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app as deployed (keys required), started once for every generated request."""
    folder: Path = tmp_path_factory.mktemp("openapi")
    with fresh_store_url(folder) as store_url:
        settings = Settings(
            env="test",
            data=DataSettings(train_uri="-", predict_input_uri="-", predictions_uri="-"),
            storage=StorageSettings(registry_uri=registry_uri, reports_uri=str(folder)),
            store=StoreSettings(url=store_url, flush_interval_seconds=0.05),
            auth=AuthSettings(predict_keys=SecretStr(PREDICT_KEY), admin_keys=SecretStr(ADMIN_KEY)),
        )
        application = create_app(settings)
        with TestClient(application):  # runs the lifespan: model loaded, store open
            yield application


def test_every_operation_matches_its_schema(app: FastAPI) -> None:
    """Valid and invalid requests for each operation; every built-in check on each answer."""
    # The admin key, given as the schema's security scheme: schemathesis then also checks
    # that a request without it (or with a wrong one) is refused.
    config = schemathesis.Config.from_dict(
        {"auth": {"openapi": {"HTTPBearer": {"bearer": ADMIN_KEY}}}}
    )
    api = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 9

    statuses: set[int] = set()
    for operation in operations:
        takes_input = any(operation.iter_parameters()) or bool(operation.body)
        # A schema cannot say what makes an upload a valid CSV, so random "valid" files
        # are refused (422); test_api.py covers what the upload accepts.
        upload = operation.path == "/predict-batch"
        excluded = [positive_data_acceptance] if upload else []
        statuses |= check(operation, GenerationMode.POSITIVE, excluded)
        if takes_input:
            check(operation, GenerationMode.NEGATIVE, excluded)

    assert 200 in statuses  # the admin key was sent
    assert not statuses & {401, 403}


def check(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    excluded: list[CheckFunction],
) -> set[int]:
    """Generate requests for `operation`, check every answer; the statuses seen."""
    statuses: set[int] = set()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def conforms(case: schemathesis.Case[Any]) -> None:
        statuses.add(case.call_and_validate(excluded_checks=excluded).status_code)

    conforms()
    return statuses


def test_the_schema_declares_the_api_key(app: FastAPI) -> None:
    openapi = app.openapi()
    assert openapi["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": openapi["components"]["securitySchemes"]["HTTPBearer"]["description"],
    }
    secured = {
        f"{method.upper()} {path}"
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert secured == {
        "POST /predict",
        "POST /predict-batch",
        "GET /predict/{entity_id}",
        "GET /history",
        "POST /feedback",
        "GET /model",
    }
