"""The README's curl examples: generated from the contract, and each one served."""

import json
import shlex
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from {{cookiecutter.package_name}}.contracts import ID_COLUMN
from {{cookiecutter.package_name}}.serving.app import create_app
from {{cookiecutter.package_name}}.serving.examples import (
    ADMIN_KEY,
    BASE_URL,
    BEGIN,
    END,
    PREDICT_KEY,
    PREDICTION_ID,
    examples,
    main,
    render,
    replace_block,
)
from {{cookiecutter.package_name}}.settings import Settings
from tests.conftest import PROJECT_ROOT, another_id, needs_id
from tests.serving.conftest import ADMIN_KEY as ADMIN_KEY_VALUE
from tests.serving.conftest import PREDICT_KEY as PREDICT_KEY_VALUE
from tests.serving.conftest import SAMPLE, entity, lookup_status

README = PROJECT_ROOT / "README.md"
KEY_VALUES = {PREDICT_KEY: PREDICT_KEY_VALUE, ADMIN_KEY: ADMIN_KEY_VALUE}


def test_the_readme_shows_the_generated_examples(sample: pd.DataFrame) -> None:
    """Else: `uv run python -m <package>.serving.examples --write README.md`."""
    text = README.read_text(encoding="utf-8")
    shown = text[text.index(BEGIN) : text.index(END) + len(END)]

    assert shown == render(examples(sample))


def test_refreshing_the_readme_changes_only_the_block(
    tmp_path: Path, sample: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{BEGIN}\nold\n{END}\nafter\n")

    main(["--write", str(readme)])

    assert readme.read_text() == f"before\n{render(examples(sample))}\nafter\n"
    main([])
    assert capsys.readouterr().out.startswith(f"updated the API examples in {readme}\n{BEGIN}")
    with pytest.raises(ValueError, match="no block"):
        replace_block("no markers", "new")


def send(client: TestClient, command: str, prediction_id: str) -> httpx.Response:
    """Send what a curl command of the README sends, keys taken from the shell variables."""
    joined = command.replace("\\\n", "")  # line continuations, as the shell reads them
    words = shlex.split(joined.replace(PREDICTION_ID, prediction_id), comments=True)
    assert words[:2] == ["curl", "-s"]
    url, options = words[2], words[3:]
    method, headers, body, files = "GET", {}, None, None
    for flag, value in zip(options[::2], options[1::2], strict=True):
        if flag == "-X":
            method = value
        elif flag == "-H":
            name, _, header = value.partition(": ")
            for variable, key in KEY_VALUES.items():
                header = header.replace(variable, key)
            headers[name] = header
        elif flag == "-d":
            method, body = "POST", value.encode()
        elif flag == "-F":
            field, _, path = value.partition("=@")
            method, files = "POST", {field: (Path(path).name, (PROJECT_ROOT / path).read_bytes())}
    response: httpx.Response = client.request(
        method, url.removeprefix(BASE_URL), headers=headers, content=body, files=files
    )
    return response


def test_each_endpoint_has_an_example_and_each_example_is_served(
    secured_settings: Settings, sample: pd.DataFrame
) -> None:
    requests = examples(sample)
    lookup = "/predict/{entity_id}"
    app = create_app(secured_settings)
    shown = {request.path.split("?")[0] for request in requests}
    if ID_COLUMN is not None:
        shown = {path.replace(entity(sample), "{entity_id}") for path in shown}
    paths = set(app.openapi()["paths"])
    assert shown == (paths if ID_COLUMN is not None else paths - {lookup})
    with TestClient(app) as client:
        prediction_id = ""
        for request in requests:
            response = send(client, request.curl(), prediction_id)
            expected = lookup_status() if request.path.startswith("/predict/") else 200
            assert response.status_code == expected, (request.curl(), response.text)
            if request.path == "/predict":
                prediction_id = response.json()["predictions"][0]["prediction_id"]


@needs_id
def test_the_examples_follow_the_sample_data(sample: pd.DataFrame, tmp_path: Path) -> None:
    assert ID_COLUMN is not None
    changed = sample.copy()
    someone_else = another_id()
    changed.loc[0, ID_COLUMN] = someone_else

    block = render(examples(changed, SAMPLE.relative_to(PROJECT_ROOT)))

    assert f"/predict/{someone_else}" in block
    assert f"{json.dumps(ID_COLUMN)}: {json.dumps(someone_else)}" in block
