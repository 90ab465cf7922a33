import json
import logging

import pytest
import structlog

from {{cookiecutter.package_name}}.logs import ECHO_LIMIT, configure_logging, get_logger


def test_logged_values_are_cut_to_the_echo_limit(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    huge = "x" * 1_000_000
    get_logger("test").info("value.seen", value=huge, values=[huge] * 50, count=3)
    line = capsys.readouterr().err.strip()
    entry = json.loads(line)
    assert len(line) < 5_000
    assert len(entry["value"]) <= ECHO_LIMIT + 30
    assert entry["value"].endswith("(1000000 characters)")
    assert entry["values"][-1] == "… (50 items)"
    assert entry["count"] == 3


def test_tracebacks_keep_every_line_but_not_huge_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "console")
    try:
        raise ValueError("bad value " + "y" * 100_000)
    except ValueError:
        structlog.get_logger("test").exception("step.failed")
    output = capsys.readouterr().err
    assert "Traceback" in output
    assert "ValueError: bad value" in output
    assert len(output) < 5_000


def test_library_errors_are_one_line_without_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    try:
        raise ConnectionError("no route to storage " + "z" * 10_000)
    except ConnectionError:
        logging.getLogger("cloud.sdk").exception("request failed, retrying")
    output = capsys.readouterr().err
    assert output == "error cloud.sdk: request failed, retrying\n"
