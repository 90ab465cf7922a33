import pandas as pd
import pytest
from structlog.testing import capture_logs

from {{cookiecutter.package_name}}.decorators import log_call, log_time, summarize


def test_summarize_describes_frames_by_shape() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]})
    assert summarize(frame) == "DataFrame(rows=3, columns=2)"
    assert summarize("x" * 200).endswith("...")
    assert len(summarize("x" * 200)) == 80


def test_log_call_logs_arguments_and_result_summary() -> None:
    @log_call
    def double(frame: pd.DataFrame, factor: int = 2) -> pd.DataFrame:
        return frame * factor

    with capture_logs() as logs:
        result = double(pd.DataFrame({"a": [1, 2]}), factor=3)

    assert result["a"].tolist() == [3, 6]
    call, done = logs
    assert call["event"] == "step.call"
    assert call["step"].endswith("double")
    assert call["args"] == ["DataFrame(rows=2, columns=1)", "factor=3"]
    assert done["event"] == "step.result"
    assert done["result"] == "DataFrame(rows=2, columns=1)"


def test_log_time_logs_duration_and_failure() -> None:
    @log_time
    def fail() -> None:
        raise RuntimeError("boom")

    with capture_logs() as logs, pytest.raises(RuntimeError):
        fail()

    (entry,) = logs
    assert entry["event"] == "step.time"
    assert entry["status"] == "error"
    assert entry["duration_ms"] >= 0


def test_log_time_returns_the_result() -> None:
    @log_time
    def answer() -> int:
        return 42

    with capture_logs() as logs:
        assert answer() == 42
    assert logs[0]["status"] == "ok"
