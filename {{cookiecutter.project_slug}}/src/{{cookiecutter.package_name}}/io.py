"""Storage access through fsspec URIs (local paths, file://, memory://, s3://, gs://, az://).

Every write is atomic: data goes to a temporary object beside the target and is
moved into place only when complete, so readers never see partial output.
"""

import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import fsspec
import pandas as pd
from fsspec.spec import AbstractFileSystem


def resolve(uri: str) -> tuple[AbstractFileSystem, str]:
    """Return the filesystem and the path inside it for `uri`."""
    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path


def join(base: str, *parts: str) -> str:
    """Join path segments onto a URI, keeping its protocol."""
    return posixpath.join(base.rstrip("/"), *parts)


def exists(uri: str) -> bool:
    fs, path = resolve(uri)
    return bool(fs.exists(path))


def read_bytes(uri: str) -> bytes:
    fs, path = resolve(uri)
    with fs.open(path, "rb") as handle:
        data: bytes = handle.read()
    return data


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


@contextmanager
def atomic_write(uri: str) -> Iterator[IO[bytes]]:
    """Open `uri` for binary writing; the object appears only if the block succeeds."""
    fs, path = resolve(uri)
    parent = posixpath.dirname(path)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    temporary = f"{path}.{uuid.uuid4().hex}.partial"
    try:
        with fs.open(temporary, "wb") as handle:
            yield handle
        fs.mv(temporary, path)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary)


def write_bytes(uri: str, data: bytes) -> None:
    with atomic_write(uri) as handle:
        handle.write(data)


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def read_csv(uri: str) -> pd.DataFrame:
    fs, path = resolve(uri)
    with fs.open(path, "rb") as handle:
        return pd.read_csv(handle)


def iter_csv(uri: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream a CSV in chunks of at most `chunk_rows` rows (bounded memory)."""
    fs, path = resolve(uri)
    with fs.open(path, "rb") as handle, pd.read_csv(handle, chunksize=chunk_rows) as reader:
        yield from reader


def write_csv(uri: str, frame: pd.DataFrame) -> None:
    with atomic_write(uri) as handle:
        frame.to_csv(handle, index=False)
