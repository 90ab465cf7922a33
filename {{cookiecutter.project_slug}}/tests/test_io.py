from pathlib import Path

import fsspec
import pandas as pd
import pytest

from {{cookiecutter.package_name}} import io


def test_csv_round_trip_on_memory_filesystem(memory_root: str) -> None:
    uri = io.join(memory_root, "nested", "frame.csv")
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    io.write_csv(uri, frame)
    assert io.read_csv(uri).equals(frame)
    chunks = list(io.iter_csv(uri, chunk_rows=2))
    assert [len(chunk) for chunk in chunks] == [2, 1]


def write_then_fail(uri: str, data: bytes) -> None:
    with io.atomic_write(uri) as handle:
        handle.write(data)
        raise RuntimeError("step failed")


def test_failed_write_leaves_nothing_behind(memory_root: str) -> None:
    uri = io.join(memory_root, "out", "result.csv")
    with pytest.raises(RuntimeError, match="step failed"):
        write_then_fail(uri, b"half a file")
    assert not io.exists(uri)
    assert fsspec.filesystem("memory").ls(io.resolve(io.join(memory_root, "out"))[1]) == []


def test_failed_write_keeps_the_previous_version(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/result.txt"
    io.write_text(uri, "complete")
    with pytest.raises(RuntimeError, match="step failed"):
        write_then_fail(uri, b"partial")
    assert io.read_text(uri) == "complete"
