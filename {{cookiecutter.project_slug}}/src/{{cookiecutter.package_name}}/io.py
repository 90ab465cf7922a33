"""Storage access through fsspec URIs (local paths, file://, memory://, s3://, gs://, az://).

Tables are CSV or Parquet, chosen by the URI's extension (`.parquet` is Parquet,
anything else CSV), on every backend: read whole, streamed in chunks, or written
chunk by chunk.

Every write is atomic: data goes to a temporary object beside the target and is
moved into place only when complete, so readers never see partial output. A
temporary left by a killed writer is removed by the next write of the same output.

Object stores fail fast: credentials are required (no silent anonymous fallback),
network timeouts are short, and `check_reachable` bounds the first contact with a
deadline, so a laptop without cloud credentials gets a one-line answer in seconds.
"""

import os
import posixpath
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import IO

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import split_protocol
from fsspec.spec import AbstractFileSystem

from .logs import get_logger, shorten

logger = get_logger(__name__)

# Protocols served by this machine: no credentials, no network.
LOCAL_PROTOCOLS = frozenset({"file", "local", "memory"})
# Options per object-store protocol: explicit credentials and bounded network waits.
FILESYSTEM_OPTIONS: dict[str, dict[str, object]] = {
    "gs": {"token": "google_default", "requests_timeout": 20},
    "gcs": {"token": "google_default", "requests_timeout": 20},
    "s3": {
        "config_kwargs": {
            "connect_timeout": 5,
            "read_timeout": 20,
            "retries": {"max_attempts": 2, "mode": "standard"},
        }
    },
    "az": {"connection_timeout": 5, "read_timeout": 20},
    "abfs": {"connection_timeout": 5, "read_timeout": 20},
}
# How long the first contact with an object store may take before the job gives up.
REACHABLE_SECONDS = 15.0
# What to configure, per protocol, when storage cannot be reached.
STORAGE_ADVICE = {
    "gs": "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
    "s3": "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or run `aws sso login`)",
    "az": "set AZURE_STORAGE_ACCOUNT_NAME and sign in with `az login` (or set a connection string)",
}
STORAGE_ADVICE["gcs"] = STORAGE_ADVICE["gs"]
STORAGE_ADVICE["abfs"] = STORAGE_ADVICE["az"]
LOCAL_ADVICE = "or point the URI settings at local paths (see README, 'Settings and environments')"
# Exceptions raised by cloud SDKs and HTTP clients for missing credentials or no network.
CLOUD_ERROR_MODULES = ("google.auth", "botocore", "azure", "aiohttp", "requests", "gcsfs")
TEMPORARY_SUFFIX = ".partial"
PARQUET_SUFFIX = ".parquet"
# Temporaries this process is writing right now (anything else with its id is stale).
_writing: set[str] = set()


class StorageError(Exception):
    """Storage cannot be reached or refuses access (credentials, network, permissions)."""


def protocol(uri: str) -> str:
    """The fsspec protocol of `uri` ("file" for plain paths)."""
    return split_protocol(uri)[0] or "file"


def is_remote(uri: str) -> bool:
    return protocol(uri) not in LOCAL_PROTOCOLS


def resolve(uri: str) -> tuple[AbstractFileSystem, str]:
    """Return the filesystem and the path inside it for `uri`."""
    options = FILESYSTEM_OPTIONS.get(protocol(uri), {})
    try:
        fs, path = fsspec.core.url_to_fs(uri, **options)
    except Exception as error:
        raise storage_error(uri, error) from None
    return fs, path


def storage_error(uri: str, error: BaseException) -> StorageError:
    """A one-line StorageError for `error`, naming the URI and what to configure."""
    scheme = protocol(uri)
    advice = STORAGE_ADVICE.get(scheme, "check the path and its permissions")
    reason = shorten(str(error).strip().splitlines()[0] if str(error).strip() else "")
    kind = type(error).__name__
    return StorageError(f"cannot use storage {uri} ({kind}: {reason}): {advice}, {LOCAL_ADVICE}")


def is_storage_failure(error: BaseException) -> bool:
    """Whether `error` (or its cause) comes from credentials, the network or permissions."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__
        if module.startswith(CLOUD_ERROR_MODULES) or isinstance(
            current, PermissionError | ConnectionError | TimeoutError
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def check_reachable(uri: str, seconds: float = REACHABLE_SECONDS) -> None:
    """Raise StorageError unless the object store behind `uri` answers within `seconds`.

    Local paths pass at once. The check runs in a daemon thread, so a client stuck in
    its own retries cannot hold the job beyond the deadline.
    """
    if not is_remote(uri):
        return
    failure: list[BaseException] = []

    def probe() -> None:
        try:
            fs, path = resolve(uri)
            fs.exists(path)
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=probe, name="storage-check", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        timeout = TimeoutError(f"no answer within {seconds:g} s (network, DNS or credentials)")
        raise storage_error(uri, timeout)
    if failure:
        error = failure[0]
        raise error if isinstance(error, StorageError) else storage_error(uri, error) from None


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


def _writer_id() -> str:
    """Host and process of this writer: part of every temporary's name."""
    host = socket.gethostname().replace(".", "_") or "host"
    return f"{host}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(temporary: str) -> bool:
    """Whether a temporary was left by a dead writer on this host.

    Names are `<target>.<host>-<pid>-<random>.partial`. Temporaries of other hosts are
    kept: their writer may be alive.
    """
    token = temporary[: -len(TEMPORARY_SUFFIX)].rsplit(".", 1)[-1]
    parts = token.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    host, rest, _ = parts
    if host != _writer_id().rsplit("-", 1)[0]:
        return False
    pid = int(rest)
    if pid == os.getpid():
        return temporary not in _writing
    return not _pid_alive(pid)


def remove_stale_temporaries(fs: AbstractFileSystem, path: str) -> list[str]:
    """Remove temporaries of `path` left by killed writers; return what was removed."""
    parent, target = posixpath.split(path)
    removed = []
    for entry in fs.ls(parent or ".", detail=False) if fs.exists(parent or ".") else []:
        name = posixpath.join(parent, posixpath.basename(str(entry).rstrip("/")))
        base = posixpath.basename(name)
        if base.startswith(f"{target}.") and base.endswith(TEMPORARY_SUFFIX) and is_stale(name):
            with suppress(FileNotFoundError):
                fs.rm(name)
            removed.append(name)
    if removed:
        logger.warning("io.stale_temporaries_removed", target=path, count=len(removed))
    return removed


@contextmanager
def atomic_write(uri: str) -> Iterator[IO[bytes]]:
    """Open `uri` for binary writing; the object appears only if the block succeeds."""
    fs, path = resolve(uri)
    parent = posixpath.dirname(path)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    remove_stale_temporaries(fs, path)
    temporary = f"{path}.{_writer_id()}-{uuid.uuid4().hex[:12]}{TEMPORARY_SUFFIX}"
    _writing.add(temporary)
    try:
        with fs.open(temporary, "wb") as handle:
            yield handle
        fs.mv(temporary, path)
    finally:
        _writing.discard(temporary)
        if fs.exists(temporary):
            fs.rm(temporary)


def write_bytes(uri: str, data: bytes) -> None:
    with atomic_write(uri) as handle:
        handle.write(data)


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def is_parquet(uri: str) -> bool:
    """Whether `uri` names a Parquet file (by its extension); anything else is CSV."""
    return str(split_protocol(uri)[1]).lower().endswith(PARQUET_SUFFIX)


def read_table(uri: str, text: Sequence[str] = ()) -> pd.DataFrame:
    """Read a whole CSV or Parquet file; CSV columns named in `text` are read as text."""
    fs, path = resolve(uri)
    with fs.open(path, "rb") as handle:
        if not is_parquet(uri):
            return pd.read_csv(handle, dtype=dict.fromkeys(text, str))
        frame: pd.DataFrame = pq.read_table(handle).to_pandas()
    return frame


def iter_table(uri: str, chunk_rows: int, text: Sequence[str] = ()) -> Iterator[pd.DataFrame]:
    """Stream a CSV or Parquet file in chunks of at most `chunk_rows` rows (bounded memory).

    CSV columns named in `text` are read as text (ids keep their leading zeros).
    """
    fs, path = resolve(uri)
    if not is_parquet(uri):
        dtypes = dict.fromkeys(text, str)
        with (
            fs.open(path, "rb") as handle,
            pd.read_csv(handle, chunksize=chunk_rows, dtype=dtypes) as reader,
        ):
            yield from reader
        return
    with fs.open(path, "rb") as handle, pq.ParquetFile(handle) as parquet:
        if parquet.metadata.num_rows == 0:
            yield parquet.schema_arrow.empty_table().to_pandas()
            return
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()


def write_table(uri: str, frame: pd.DataFrame) -> None:
    """Write a whole frame as CSV or Parquet (by the URI's extension), atomically."""
    with table_writer(uri, frame.head(0)) as writer:
        writer.write(frame)


@contextmanager
def table_writer(uri: str, empty: pd.DataFrame) -> Iterator["TableWriter"]:
    """Write a CSV or Parquet table chunk by chunk; it appears only if the block succeeds.

    `empty` holds the output's columns and types: what an output without rows holds
    (a CSV header line, or a Parquet file with that schema).
    """
    with atomic_write(uri) as handle:
        writer = TableWriter(handle, is_parquet(uri), empty)
        try:
            yield writer
        except BaseException:
            writer.close(complete=False)
            raise
        writer.close(complete=True)


class TableWriter:
    """Appends frames to an open binary handle as CSV or as Parquet row groups."""

    def __init__(self, handle: IO[bytes], parquet: bool, empty: pd.DataFrame) -> None:
        self.handle = handle
        self.parquet = parquet
        self.empty = empty
        self.rows = 0
        self._started = False
        self._parquet: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if not self.parquet:
            # One write per chunk: pandas writes to a binary handle row by row.
            text = frame.to_csv(index=False, header=not self._started)
            self.handle.write(text.encode())
        else:
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.handle, _arrow_schema(frame, self.empty))
            table = pa.Table.from_pandas(frame, self._parquet.schema, preserve_index=False)
            self._parquet.write_table(table)
        self.rows += len(frame)
        self._started = True

    def close(self, *, complete: bool) -> None:
        """Finish the file (with a header or schema alone when no row was written)."""
        if complete and not self._started:
            self.write(self.empty)
        if self._parquet is not None:
            self._parquet.close()


def _arrow_schema(frame: pd.DataFrame, empty: pd.DataFrame) -> pa.Schema:
    """The Parquet schema of a table: inferred from its data, strings where none is known."""
    sample = frame if len(frame) else empty
    schema = pa.Schema.from_pandas(sample, preserve_index=False)
    for index, column in enumerate(schema):
        if pa.types.is_null(column.type):
            schema = schema.set(index, column.with_type(pa.string()))
    return schema
