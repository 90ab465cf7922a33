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

A table without an id column (`dataset.ID_COLUMN = None`) has no entities: every row
is scored, the predictions carry no id, and the store is left alone (online features
and batch predictions are looked up by id).
"""

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .. import data, io
from ..contracts import ID_COLUMN, predictions_contract
from ..decorators import log_time
from ..logs import get_logger
from ..model import Model
from ..registry import open_registry
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
        ids = chunk[ID_COLUMN].astype(str)
        keys = ids.to_numpy(dtype=np.bytes_)
        keep = ~ids.duplicated(keep="first").to_numpy()
        for run in self.runs:
            found = np.searchsorted(run, keys).clip(max=len(run) - 1)
            keep &= run[found] != keys
        self.dropped += int((~keep).sum())
        if keep.any():
            self.runs.append(np.sort(keys[keep]))
        while len(self.runs) > 1 and 2 * len(self.runs[-1]) >= len(self.runs[-2]):
            newer = self.runs.pop()
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], newer]))
        return chunk[keep]


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


def every_record(chunk: pd.DataFrame) -> pd.DataFrame:
    """Keeps every record: rows of a table without ids are not de-duplicated."""
    return chunk


@dataclass
class ChunkWriter:
    """Writes scored chunks to the output and the store (if any), one chunk at a time."""

    output: io.TableWriter
    store: Store | None
    scored_at: datetime

    def __call__(self, features: pd.DataFrame, scored: pd.DataFrame) -> None:
        self.output.write(scored)
        if self.store is None:
            return
        with self.store.transaction() as connection:  # one per chunk: short write locks
            self.store.write_batch(connection, features, scored, self.scored_at)


@log_time
def predict(
    settings: Settings, input_uri: str | None = None, output_uri: str | None = None
) -> PredictResult:
    input_uri = input_uri or settings.data.predict_input_uri
    output_uri = output_uri or settings.data.predictions_uri
    model, card = open_registry(settings).load(settings.env)
    version = f"v{card.version}"
    rows = 0
    # The one place a table without ids differs: no de-duplication, no store to refresh.
    keyed = ID_COLUMN is not None
    unique = FirstRecordPerId()
    store = Store(settings.store.url) if keyed else None
    scored_at = utc_now()
    try:
        with (
            io.table_writer(output_uri, empty_predictions()) as output,
            ThreadPoolExecutor(1, thread_name_prefix="predict-writer") as writer,
        ):
            write = ChunkWriter(output, store, scored_at)
            written: Future[None] | None = None
            chunks = data.stream_raw(input_uri, settings.data.chunk_rows)
            for chunk in map(unique if keyed else every_record, chunks):
                if chunk.empty:
                    continue
                features = data.build_features(data.clean(chunk))
                scored = score(features, model, version, settings.model.threshold)
                if written is not None:
                    written.result()  # the previous chunk's write, and its error if any
                written = writer.submit(write, features, scored)
                rows += len(scored)
            if written is not None:
                written.result()
    finally:
        if store is not None:
            store.close()
    if unique.dropped:
        logger.warning("predict.duplicates_dropped", rows=unique.dropped, kept="first record")
    logger.info("predict.written", rows=rows, output=output_uri, model_version=version)
    return PredictResult(
        rows=rows, output_uri=output_uri, model_version=card.version, duplicates=unique.dropped
    )
