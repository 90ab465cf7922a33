"""Access control: API keys with two scopes, on a real socket and through the app."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from {{cookiecutter.package_name}}.contracts import ID_COLUMN
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.serving.auth import Scope, key_variable, load_keys
from {{cookiecutter.package_name}}.settings import (
    ENV_PREFIX,
    AuthSettings,
    Settings,
    SettingsError,
    StorageSettings,
    load_settings,
)
from tests.conftest import ANY_MODEL, PROJECT_ROOT
from tests.serving.conftest import (
    ADMIN_KEY,
    PREDICT_KEY,
    Server,
    an_outcome,
    bearer,
    entity,
    free_port,
    raw_request,
    record,
)

WRONG_KEY = "not-a-key-0123456789abcdef"
KEYS: dict[str, str | None] = {
    "no key": None,
    "wrong key": WRONG_KEY,
    "predict key": PREDICT_KEY,
    "admin key": ADMIN_KEY,
}
# Route -> the scope it needs (None: open to anyone).
ROUTES: dict[str, Scope | None] = {
    "GET /health": None,
    "GET /ready": None,
    "GET /metrics": None,
    "GET /docs": None,
    "GET /openapi.json": None,
    "POST /predict": "predict",
    "POST /predict-batch": "predict",
    "GET /predict/{entity_id}": "predict",
    "GET /model": "admin",
    "GET /history": "admin",
    "POST /feedback": "admin",
}


def expected_status(route: str, key: str | None) -> int:
    needed = ROUTES[route]
    # Looking an entity up needs an id column (404 without one, once the key is accepted).
    allowed = 404 if route == "GET /predict/{entity_id}" and ID_COLUMN is None else 200
    if needed is None or key == ADMIN_KEY:
        return allowed
    if key == PREDICT_KEY:
        return allowed if needed == "predict" else 403
    return 401


def call(client: httpx.Client, route: str, key: str | None, sample: pd.DataFrame) -> httpx.Response:
    """One valid request to `route`, sent with `key`."""
    headers = bearer(key) if key is not None else {}
    method, path = route.split(" ")
    if route == "POST /predict":
        return client.post(path, json=record(sample), headers=headers)
    if route == "POST /predict-batch":
        upload = sample.head(5).to_csv(index=False).encode()
        return client.post(path, files={"file": ("a.csv", upload, "text/csv")}, headers=headers)
    if route == "GET /predict/{entity_id}":
        identity = "ANY-ID" if ID_COLUMN is None else entity(sample)
        return client.get(f"/predict/{identity}", headers=headers)
    if route == "POST /feedback":
        made = client.post("/predict", json=record(sample), headers=bearer(ADMIN_KEY))
        prediction_id = made.json()["predictions"][0]["prediction_id"]
        body = {"prediction_id": prediction_id, "outcome": an_outcome(sample)}
        return client.post(path, json=body, headers=headers)
    return client.request(method, path, headers=headers)


@pytest.mark.parametrize("key_name", list(KEYS))
@pytest.mark.parametrize("route", list(ROUTES))
def test_each_route_answers_each_key_over_a_socket(
    secured_server: Server, sample: pd.DataFrame, route: str, key_name: str
) -> None:
    key = KEYS[key_name]
    with httpx.Client(base_url=secured_server.url) as client:
        response = call(client, route, key, sample)

    assert response.status_code == expected_status(route, key), response.text
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert "API key" in response.json()["detail"]
    if response.status_code == 403:
        assert response.json()["detail"] == "this API key has the predict scope, not admin"


def test_an_api_key_goes_in_the_authorization_header_only(
    secured_server: Server, sample: pd.DataFrame
) -> None:
    with httpx.Client(base_url=secured_server.url) as client:
        as_api_key = client.get("/history", headers={"X-API-Key": ADMIN_KEY})
        as_basic = client.get("/history", headers={"Authorization": f"Basic {ADMIN_KEY}"})
        as_query = client.get("/history", params={"api_key": ADMIN_KEY})
        lower_case_scheme = client.get("/history", headers={"Authorization": f"bearer {ADMIN_KEY}"})

    assert [as_api_key.status_code, as_basic.status_code, as_query.status_code] == [401] * 3
    assert lower_case_scheme.status_code == 200


def test_strangers_are_refused_before_their_body_is_read(secured_server: Server) -> None:
    """A 1 GB upload without a key: 401 on the headers alone, nothing spooled."""
    status, _ = raw_request(
        secured_server,
        b"POST /predict-batch HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1073741824\r\n\r\n",
    )
    assert status == 401


def test_keys_are_required_outside_local(memory_settings: Settings) -> None:
    no_keys = memory_settings.model_copy(update={"auth": AuthSettings()})

    with pytest.raises(SettingsError) as raised:
        load_keys(no_keys)

    message = str(raised.value)
    assert key_variable("predict") in message
    assert key_variable("admin") in message
    assert f"{ENV_PREFIX}AUTH__PREDICT_KEYS" in message


def test_local_needs_no_key_but_honours_one() -> None:
    local = load_settings("local", PROJECT_ROOT / "configs")
    keyed = local.model_copy(update={"auth": AuthSettings(predict_keys=SecretStr(PREDICT_KEY))})

    assert not load_keys(local.model_copy(update={"auth": AuthSettings()})).required
    assert load_keys(keyed).scope_of(PREDICT_KEY) == "predict"


def test_auth_can_be_turned_off_explicitly(memory_settings: Settings) -> None:
    off = memory_settings.model_copy(update={"auth": AuthSettings(enabled=False)})
    assert not load_keys(off).required


def test_a_short_key_is_refused_without_being_echoed(memory_settings: Settings) -> None:
    weak = memory_settings.model_copy(update={"auth": AuthSettings(admin_keys=SecretStr("s3cret"))})

    with pytest.raises(SettingsError, match=key_variable("admin")) as raised:
        load_keys(weak)

    assert "s3cret" not in str(raised.value)


def test_keys_from_a_mounted_secret(memory_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / key_variable("predict")).write_text(f"{PREDICT_KEY}\n{WRONG_KEY}\n")
    (tmp_path / key_variable("admin")).write_text(ADMIN_KEY)
    mounted = memory_settings.model_copy(update={"auth": AuthSettings(keys_dir=str(tmp_path))})

    keys = load_keys(mounted)

    assert keys.scope_of(PREDICT_KEY) == keys.scope_of(WRONG_KEY) == "predict"
    assert keys.scope_of(ADMIN_KEY) == "admin"
    missing = AuthSettings(keys_dir=str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match=r"auth\.keys_dir"):
        load_keys(memory_settings.model_copy(update={"auth": missing}))


printable_keys = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=","),
    min_size=16,
    max_size=64,
)


@given(keys=st.lists(printable_keys, min_size=3, max_size=6, unique=True))
@settings(max_examples=50, deadline=None)
def test_each_key_has_its_scope_and_no_other_key_passes(keys: list[str]) -> None:
    predict_keys, admin_keys, (stranger, *_) = keys[:1], keys[1:-1], keys[-1:]
    both = predict_keys[0]
    configured = Settings.model_construct(
        env="test",
        auth=AuthSettings(
            predict_keys=SecretStr(",".join(predict_keys)),
            admin_keys=SecretStr(" , ".join([*admin_keys, both])),
        ),
    )

    api_keys = load_keys(configured)

    assert all(api_keys.scope_of(key) == "admin" for key in admin_keys)
    assert api_keys.scope_of(both) == "admin"  # listed under both: the wider scope
    assert api_keys.scope_of(stranger) is None
    assert api_keys.scope_of(stranger[:-1]) is None


def test_the_app_refuses_wrong_keys_with_401_and_short_scopes_with_403(
    secured_settings: Settings, table: pd.DataFrame
) -> None:
    with TestClient(create_app(secured_settings)) as client:
        assert client.post("/predict", json=record(table)).status_code == 401
        assert client.get("/history", headers=bearer(PREDICT_KEY)).status_code == 403
        assert client.get("/history", headers=bearer(ADMIN_KEY)).status_code == 200
        assert client.get("/health").status_code == 200


def test_serve_refuses_to_start_without_keys_outside_local(
    memory_settings: Settings, tmp_path: Path
) -> None:
    """`serve --env test` with a model but no key: exit 3 naming the variables to set."""
    registry = tmp_path / "registry"
    storage = StorageSettings(registry_uri=str(registry), reports_uri=str(tmp_path))
    train(memory_settings.model_copy(update={"storage": storage, "training": ANY_MODEL}))
    configs = tmp_path / "configs"
    configs.mkdir()
    local = (PROJECT_ROOT / "configs" / "local.yaml").read_text()
    (configs / "test.yaml").write_text(local.replace("env: local", "env: test"))
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)
    } | {
        f"{ENV_PREFIX}CONFIG_DIR": str(configs),
        f"{ENV_PREFIX}STORAGE__REGISTRY_URI": str(registry),
        f"{ENV_PREFIX}STORE__URL": f"sqlite:///{tmp_path / 'store.db'}",
    }
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve", "--env", "test"]

    result = subprocess.run(
        [*command, "--port", str(free_port())],
        env=environment,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 3, result.stderr
    assert key_variable("predict") in result.stderr
    assert key_variable("admin") in result.stderr
