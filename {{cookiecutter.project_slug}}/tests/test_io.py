import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from {{cookiecutter.package_name}} import io


@pytest.mark.parametrize("extension", ["csv", "parquet"])
def test_tables_round_trip_whole_and_in_chunks(memory_root: str, extension: str) -> None:
    uri = io.join(memory_root, "nested", f"frame.{extension}")
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "c": [0.1, float("nan"), 3.0]})
    io.write_table(uri, frame)
    pd.testing.assert_frame_equal(io.read_table(uri), frame, check_dtype=False)
    chunks = list(io.iter_table(uri, chunk_rows=2))
    assert [len(chunk) for chunk in chunks] == [2, 1]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), frame, check_dtype=False)


def test_parquet_is_chosen_by_the_extension(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    io.write_table(str(tmp_path / "frame.parquet"), frame)
    io.write_table(str(tmp_path / "frame.csv"), frame)
    assert (tmp_path / "frame.parquet").read_bytes()[:4] == b"PAR1"
    assert (tmp_path / "frame.csv").read_text() == "a\n1\n2\n"


@pytest.mark.parametrize("extension", ["csv", "parquet"])
def test_chunked_output_keeps_the_types_of_an_empty_table(memory_root: str, extension: str) -> None:
    uri = io.join(memory_root, f"empty.{extension}")
    empty = pd.DataFrame({"id": pd.Series(dtype=str), "n": pd.Series(dtype="int64")})
    with io.table_writer(uri, empty):
        pass
    read = io.read_table(uri)
    assert list(read.columns) == ["id", "n"]
    assert read.empty
    if extension == "parquet":
        assert read["n"].dtype == "int64"


@pytest.mark.parametrize("extension", ["csv", "parquet"])
def test_chunked_output_appears_only_when_complete(memory_root: str, extension: str) -> None:
    uri = io.join(memory_root, f"out.{extension}")
    frame = pd.DataFrame({"a": [1, 2]})

    def write_then_fail() -> None:
        with io.table_writer(uri, frame) as output:
            output.write(frame)
            assert not io.exists(uri)
            raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        write_then_fail()
    assert not io.exists(uri)
    with io.table_writer(uri, frame.head(0)) as output:
        output.write(frame)
        output.write(frame)
    assert io.read_table(uri)["a"].tolist() == [1, 2, 1, 2]


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


WRITER = """
import sys, time
from {{cookiecutter.package_name}} import io
with io.atomic_write(sys.argv[1]) as handle:
    handle.write(b"half a file")
    handle.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process in the middle of an atomic write of tmp_path/out.csv."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "out.csv")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "writing"
    yield process
    process.kill()
    process.wait()


def partials(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.partial"))


def test_next_write_removes_what_a_killed_writer_left(
    tmp_path: Path, writer: subprocess.Popen[str]
) -> None:
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert len(partials(tmp_path)) == 1

    io.write_text(str(tmp_path / "out.csv"), "complete")

    assert partials(tmp_path) == []
    assert (tmp_path / "out.csv").read_text() == "complete"


def test_a_live_writers_temporary_is_kept(tmp_path: Path, writer: subprocess.Popen[str]) -> None:
    io.write_text(str(tmp_path / "out.csv"), "complete")
    io.write_text(str(tmp_path / "other.csv"), "complete")
    assert len(partials(tmp_path)) == 1
    assert writer.poll() is None
