"""`serve` from the command line: failures before the server starts."""

import socket
from pathlib import Path

import pytest

from {{cookiecutter.package_name}}.cli import ExitCode, main
from {{cookiecutter.package_name}}.settings import ENV_PREFIX


def test_serve_on_a_taken_port_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}STORAGE__REGISTRY_URI", str(tmp_path / "registry"))
    monkeypatch.setenv(f"{ENV_PREFIX}STORAGE__REPORTS_URI", str(tmp_path / "reports"))
    monkeypatch.setenv(f"{ENV_PREFIX}MODEL__MAX_ITER", "10")
    assert main(["train"]) == ExitCode.OK
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["serve", "--host", "127.0.0.1", "--port", str(port)])
    assert code == ExitCode.SERVE
    stderr = capsys.readouterr().err
    assert f"error: cannot serve on 127.0.0.1:{port}: the port is taken" in stderr
    assert "Traceback" not in stderr
