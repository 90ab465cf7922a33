"""Batch scoring on Ray Data: the local engine's work, spread over a Ray cluster.

Ray reads the input (CSV or Parquet, on any fsspec filesystem) in blocks; a pool of
Ray actors, each holding the model (put once in Ray's object store and shared), runs
`score_chunk` on batches of `data.chunk_rows` rows: the raw contract, cleaning, the
features and the predictions contract, the very code of the local engine. The driver
(this process) takes the scored batches back in input order and passes them to the
local engine's `ChunkWriter`: the first record of an id wins, the output is written to
a temporary object and appears only once every batch has passed (a failed or killed
job leaves no output), and the store is updated in bulk, one transaction per batch.

Before the cluster starts work, the driver reads the first chunk itself: an input that
cannot be read or breaks the raw contract at its start fails in seconds.

`RAY_ADDRESS` (or `compute.address`) attaches to a running cluster; without one, a
local Ray runtime starts in this process (no dashboard, no usage reporting) and stops
with it. Workers read the input themselves, so it must be a path or URI they reach too
(local paths are made absolute; `memory://` lives in this process only).
"""

import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pa_fs
from pandera.errors import SchemaErrors

# Ray's workers run this environment's Python (installed on every node, the image on a
# cluster). Ray would otherwise start each worker through `uv run` when the driver runs
# under it, shipping the project folder and syncing an environment per worker. Ray
# reads the variable when it is imported.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

import ray
import ray.data

from .. import data, io
from ..decorators import log_time
from ..logs import configure_logging, get_logger
from ..model import Model
from ..registry import open_registry
from ..settings import LoggingSettings, Settings
from .predict import PredictResult, ScoredChunk, chunk_writer, finish, score_chunk

logger = get_logger(__name__)

# Prefix of the prediction columns in a scored batch (beside the feature columns).
SCORED = "scored:"
# Column of a scored batch naming the Ray node that scored it.
NODE = "scored-on-node"
# Column of a scored batch counting the records it dropped for an id repeated in it.
REPEATED = "repeated-in-batch"
# Column of a batch that broke a contract, sent back as it came.
FAILED = "failed-contract"
# Protocols only this process can read: Ray workers cannot.
PROCESS_LOCAL = frozenset({"memory"})
# Errors of the job's own making, which Ray hands back wrapped in its task errors.
KNOWN_FAILURES = (SchemaErrors, data.DataError, io.StorageError, OSError, *data.UNREADABLE)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Ray's own chatter (progress bars, execution plans) stays below the job's log lines.
RAY_LOGGERS = ("ray", "ray.data")


@dataclass(frozen=True)
class RayPredictResult(PredictResult):
    """A Ray job's result, with the rows each Ray node scored (node id: rows)."""

    nodes: dict[str, int] = field(default_factory=dict)


class DistributedInputError(data.DataError):
    """The input lives where Ray workers cannot read it."""


def cluster_address(settings: Settings) -> str | None:
    """The cluster to attach to: RAY_ADDRESS, else compute.address, else None (local)."""
    return os.environ.get("RAY_ADDRESS") or settings.compute.address


@contextmanager
def ray_runtime(settings: Settings) -> Iterator[None]:
    """Attach to the configured cluster, or start a local runtime; detach at the end.

    A runtime this process already holds (ray.init earlier) is used as it is.
    """
    if ray.is_initialized():
        yield
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = cluster_address(settings)
    options: dict[str, Any] = {"logging_level": logging.WARNING}
    if address is None:
        options |= {"num_cpus": settings.runtime.threads or os.cpu_count() or 1}
        options |= {"include_dashboard": False}
    ray.init(address=address, **options)
    try:
        yield
    finally:
        ray.shutdown()


def first_actors() -> int:
    """Actors to start with: one per node with CPUs, leaving a CPU to read the input."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    cpus = [node["Resources"].get("CPU", 0) for node in nodes if node["Alive"]]
    return max(1, min(sum(1 for count in cpus if count), int(sum(cpus)) - 1))


def worker_path(uri: str) -> tuple[str, pa_fs.FileSystem | None]:
    """The path (and filesystem) under which Ray workers read `uri`."""
    if io.protocol(uri) in PROCESS_LOCAL:
        raise DistributedInputError(
            f"{uri}: {io.protocol(uri)}:// lives in this process; Ray workers cannot read it"
        )
    if not io.is_remote(uri):
        return str(Path(io.resolve(uri)[1]).resolve()), None
    fs, path = io.resolve(uri)
    return path, pa_fs.PyFileSystem(pa_fs.FSSpecHandler(fs))


def read_input(uri: str) -> ray.data.Dataset:
    """The input as a Ray dataset: text columns as text, empty cells as missing."""
    path, filesystem = worker_path(uri)
    if io.is_parquet(uri):
        return ray.data.read_parquet(path, filesystem=filesystem)
    text_types = dict.fromkeys(data.TEXT_COLUMNS, pa.string())
    convert = pa_csv.ConvertOptions(column_types=text_types, strings_can_be_null=True)
    return ray.data.read_csv(path, filesystem=filesystem, convert_options=convert)


class BatchScorer:
    """A Ray actor: holds the model and scores batches with the local engine's code."""

    def __init__(
        self,
        model: "ray.ObjectRef[Model]",
        version: str,
        threshold: float,
        logs: LoggingSettings,
    ) -> None:
        # Workers log warnings and errors; the driver logs the job's progress.
        configure_logging(max(logs.level, "WARNING", key=LEVELS.index), logs.format)
        self.model: Model = ray.get(model)  # one copy per node's object store, shared
        self.version = version
        self.threshold = threshold
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        if batch.empty:
            return batch
        try:
            chunk = score_chunk(batch, self.model, self.version, self.threshold)
        except SchemaErrors:
            # A contract error loses its failing rows on its way through Ray: the batch
            # goes back flagged, and the driver checks it again to raise the very error.
            return batch.assign(**{FAILED: True})
        return pack(chunk, self.node)


def pack(chunk: ScoredChunk, node: str) -> pd.DataFrame:
    """A scored chunk as one frame: its features, its predictions (prefixed), the node."""
    scored = chunk.scored.add_prefix(SCORED)
    packed = pd.concat([chunk.features, scored], axis=1)
    packed[NODE] = node
    # On the first row only: Ray may join several scored batches into one block.
    packed[REPEATED] = [chunk.duplicates] + [0] * (len(packed) - 1)
    return packed


def unpack(batch: pd.DataFrame) -> tuple[ScoredChunk, dict[str, int]]:
    """The scored chunk back from packed frames, and the input rows each node handled."""
    names = [str(name) for name in batch.columns]
    scored_names = [name for name in names if name.startswith(SCORED)]
    extra = {*scored_names, NODE, REPEATED}
    features = batch[[name for name in names if name not in extra]].reset_index(drop=True)
    scored = batch[scored_names].rename(columns=lambda name: name.removeprefix(SCORED))
    repeated = int(batch[REPEATED].sum())
    chunk = ScoredChunk(features, scored.reset_index(drop=True), repeated)
    per_node = batch.groupby(NODE)[REPEATED].agg(["size", "sum"]).sum(axis=1)
    return chunk, {str(node): int(rows) for node, rows in per_node.items()}


def cause_of(error: Exception) -> Exception | None:
    """The user-level error inside Ray's wrappers (a task error around a contract error).

    Ray's task errors are also instances of the error they wrap: the innermost known
    failure is the one the user's code (or the reader) raised. None: no known failure.
    """
    seen: set[int] = set()
    found: Exception | None = None
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, KNOWN_FAILURES):
            found = current
        inner = getattr(current, "cause", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__
    return found


@log_time
def predict(
    settings: Settings, input_uri: str | None = None, output_uri: str | None = None
) -> RayPredictResult:
    input_uri = input_uri or settings.data.predict_input_uri
    output_uri = output_uri or settings.data.predictions_uri
    model, card = open_registry(settings).load(settings.env)
    version = f"v{card.version}"
    threshold = settings.model.threshold
    # The first chunk is checked here, so a bad input fails fast, before the cluster.
    for first in data.read_chunks(input_uri, settings.data.chunk_rows):
        if first.empty:
            data.validate_raw(first)  # no rows: its columns still meet the contract
        else:
            score_chunk(first, model, version, threshold)
        break
    nodes: Counter[str] = Counter()
    with ray_runtime(settings), chunk_writer(settings, output_uri) as write:
        for name in RAY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # the first record of an id wins
        context.enable_progress_bars = False
        scored = read_input(input_uri).map_batches(
            BatchScorer,
            fn_constructor_args=(ray.put(model), version, threshold, settings.logging),
            batch_size=settings.data.chunk_rows,
            batch_format="pandas",
            # Ray Data waits for these actors, spread over the nodes, before it hands out
            # the first batch, one at a time per actor; it adds more as work queues.
            compute=ray.data.ActorPoolStrategy(
                min_size=first_actors(), max_tasks_in_flight_per_actor=1
            ),
        )
        try:
            for batch in scored.iter_batches(batch_size=None, batch_format="pandas"):
                assert isinstance(batch, pd.DataFrame)
                if batch.empty:
                    continue
                if FAILED in batch.columns:
                    score_chunk(batch.drop(columns=[FAILED]), model, version, threshold)
                    raise RuntimeError("a batch failed its contracts on a worker only")
                chunk, handled = unpack(batch)
                write(chunk)
                nodes.update(handled)
        except Exception as error:
            cause = cause_of(error)
            if cause is None:
                raise
            if isinstance(cause, (*data.UNREADABLE, OSError)):
                raise data.unreadable(input_uri, cause) from None
            raise cause from None
    result = finish(write, output_uri, card)
    split = {node[:8]: rows for node, rows in nodes.items() if node}
    logger.info("predict.ray.nodes", rows_per_node=split)
    return RayPredictResult(**vars(result), nodes=split)
