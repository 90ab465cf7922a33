"""Batch scoring: load -> clean -> features -> predict -> contract -> write, in chunks.

Input is streamed in chunks of `data.chunk_rows` rows so memory stays flat as
files grow; the output appears atomically once every chunk has passed its
contracts. The same run refreshes the prediction store (each entity's features
and latest prediction, for online lookups and monitoring), committing once per chunk,
so the service's writes never wait for more than one chunk; while the job runs,
readers see the entities of committed chunks updated and the others not yet.
Writing a chunk (output and store) runs in a thread of its own while the next chunk
is read and scored, so at most two chunks are in memory at once.

Input and output are CSV or Parquet, each chosen by its URI's extension (`.parquet`).

Each id is scored once: the first record of an id wins, in its chunk and across
chunks; later records with the same id are dropped and counted. The ids seen so far
are kept as sorted arrays of bytes (ids are ASCII), about as many bytes per id as the
longest id has characters: 10 million ids of 10 characters take about 100 MB.
{%- if cookiecutter.compute == "ray" %}

The work on a chunk (`score_chunk`) and the serial end that keeps the first record per
id and writes the output and the store (`ChunkWriter`) are shared with the Ray engine
(`predict_ray.py`), which runs `score_chunk` on its workers: both engines give the same
predictions, row for row.
{%- endif %}

A table without an id column (`dataset.ID_COLUMN = None`) has no entities: every row
is scored, the predictions carry no id, and the store is left alone (online features
and batch predictions are looked up by id).
"""

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandera.pandas as pa

from .. import data, io
from ..contracts import ID_COLUMN, predictions_contract
from ..decorators import log_time
from ..logs import get_logger
from ..model import Model
from ..registry import ModelCard, open_registry
from ..settings import Settings
from ..store import Store, utc_now

logger = get_logger(__name__)


@dataclass(frozen=True)
class PredictResult:
    rows: int
    output_uri: str
    model_version: int
    duplicates: int = 0


@dataclass
class FirstRecordPerId:
    """Drops records whose id was already seen in this chunk or an earlier one."""

    # Sorted runs of ids; two runs are merged when the newer is at least half the older,
    # so there are few runs and each id is re-sorted a logarithmic number of times.
    runs: list[np.ndarray] = field(default_factory=list)
    dropped: int = 0

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        return chunk[self.keep(chunk[ID_COLUMN])]

    def keep(self, ids: pd.Series) -> npt.NDArray[np.bool_]:
        """Which of `ids` are new (first in the chunk, unseen before); remembers them."""
        text = ids.astype(str)
        keys = text.to_numpy(dtype=np.bytes_)
        keep = ~text.duplicated(keep="first").to_numpy()
        for run in self.runs:
            found = np.searchsorted(run, keys).clip(max=len(run) - 1)
            keep &= run[found] != keys
        self.dropped += int((~keep).sum())
        if keep.any():
            self.runs.append(np.sort(keys[keep]))
        while len(self.runs) > 1 and 2 * len(self.runs[-1]) >= len(self.runs[-2]):
            newer = self.runs.pop()
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], newer]))
        return keep


def empty_predictions() -> pd.DataFrame:
    """A predictions table without rows, with the columns and types of the contract."""
    return pd.DataFrame(
        {
            name: pd.Series(dtype=str if str(column.dtype) == "str" else str(column.dtype))
            for name, column in predictions_contract.columns.items()
        }
    )


@pa.check_output(predictions_contract, lazy=True)
def score(features: pd.DataFrame, model: Model, version: str, threshold: float) -> pd.DataFrame:
    """Score a frame of features; the output is checked against the predictions contract."""
    scores = model.score(features, threshold)
    columns = {} if ID_COLUMN is None else {ID_COLUMN: features[ID_COLUMN].to_numpy()}
    columns["prediction"] = scores.prediction
    if scores.probability is not None:
        columns["probability"] = scores.probability
    return pd.DataFrame({**columns, "model_version": version})


@dataclass(frozen=True)
class ScoredChunk:
    """A scored chunk: its features (for the store) and its checked predictions."""

    features: pd.DataFrame
    scored: pd.DataFrame
    # Records dropped because their id came earlier in the same chunk.
    duplicates: int = 0


def score_chunk(raw: pd.DataFrame, model: Model, version: str, threshold: float) -> ScoredChunk:
    """The work on one chunk of input, in every engine.

    Raw contract, first record per id within the chunk, clean (clean contract),
    features (features contract), score (predictions contract).
    """
    raw = data.validate_raw(raw)
    duplicates = 0
    if ID_COLUMN is not None:
        repeated = raw[ID_COLUMN].astype(str).duplicated(keep="first").to_numpy()
        duplicates = int(repeated.sum())
        raw = raw[~repeated]
    features = data.build_features(data.clean(raw))
    return ScoredChunk(features, score(features, model, version, threshold), duplicates)


@dataclass
class ChunkWriter:
    """The serial end of a scoring job: takes scored chunks in input order.

    Drops records whose id an earlier chunk held (the first record of an id wins), then
    writes the chunk to the output and, for a table with ids, to the store, committing
    once per chunk (short write locks).
    """

    output: io.TableWriter
    store: Store | None
    scored_at: datetime
    unique: FirstRecordPerId = field(default_factory=FirstRecordPerId)
    rows: int = 0
    duplicates: int = 0

    def __call__(self, chunk: ScoredChunk) -> None:
        features, scored = chunk.features, chunk.scored
        self.duplicates += chunk.duplicates
        if ID_COLUMN is not None:
            keep = self.unique.keep(scored[ID_COLUMN])
            self.duplicates += int((~keep).sum())
            features, scored = features[keep], scored[keep]
        if scored.empty:
            return
        self.output.write(scored)
        self.rows += len(scored)
        if self.store is None:
            return
        with self.store.transaction() as connection:
            self.store.write_batch(connection, features, scored, self.scored_at)


@contextmanager
def chunk_writer(settings: Settings, output_uri: str) -> Iterator[ChunkWriter]:
    """A ChunkWriter on `output_uri`: the output appears only if the block succeeds.

    A table without an id column (no entities) leaves the store alone.
    """
    store = Store(settings.store.url) if ID_COLUMN is not None else None
    try:
        with io.table_writer(output_uri, empty_predictions()) as output:
            yield ChunkWriter(output, store, utc_now())
    finally:
        if store is not None:
            store.close()


def finish(writer: ChunkWriter, output_uri: str, card: ModelCard) -> PredictResult:
    """Log the outcome of a scoring job and return it."""
    if writer.duplicates:
        logger.warning("predict.duplicates_dropped", rows=writer.duplicates, kept="first record")
    version = f"v{card.version}"
    logger.info("predict.written", rows=writer.rows, output=output_uri, model_version=version)
    return PredictResult(
        rows=writer.rows,
        output_uri=output_uri,
        model_version=card.version,
        duplicates=writer.duplicates,
    )


@log_time
def predict(
    settings: Settings, input_uri: str | None = None, output_uri: str | None = None
) -> PredictResult:
    input_uri = input_uri or settings.data.predict_input_uri
    output_uri = output_uri or settings.data.predictions_uri
    model, card = open_registry(settings).load(settings.env)
    version = f"v{card.version}"
    with (
        chunk_writer(settings, output_uri) as write,
        ThreadPoolExecutor(1, thread_name_prefix="predict-writer") as writer,
    ):
        written: Future[None] | None = None
        for chunk in data.read_chunks(input_uri, settings.data.chunk_rows):
            if chunk.empty:
                data.validate_raw(chunk)  # no rows: its columns still meet the contract
                continue
            scored = score_chunk(chunk, model, version, settings.model.threshold)
            if written is not None:
                written.result()  # the previous chunk's write, and its error if any
            written = writer.submit(write, scored)
        if written is not None:
            written.result()
    return finish(write, output_uri, card)
