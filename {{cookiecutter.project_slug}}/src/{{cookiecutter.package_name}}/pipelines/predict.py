"""Batch scoring: load -> clean -> features -> predict -> contract -> write, in chunks.

Input is streamed in chunks of `data.chunk_rows` rows so memory stays flat as
files grow; the output appears atomically once every chunk has passed its
contracts. The same run refreshes the prediction store (each entity's features
and latest prediction, for online lookups and monitoring), committing once per chunk,
so the service's writes never wait for more than one chunk; while the job runs,
readers see the entities of committed chunks updated and the others not yet.

Each id is scored once: the first record of an id wins, in its chunk and across
chunks; later records with the same id are dropped and counted. The ids seen so far
are kept in a set (about 100 bytes per distinct id: 10 million ids take about 1 GB).
"""

from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa

from .. import data, io
from ..contracts import ID_COLUMN, PredictionsSchema
from ..decorators import log_time
from ..logs import get_logger
from ..model import Model
from ..registry import Registry
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

    seen: set[str] = field(default_factory=set)
    dropped: int = 0

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        ids = chunk[ID_COLUMN].astype(str)
        keep = ~ids.duplicated(keep="first") & ~ids.isin(self.seen)
        self.dropped += int((~keep).sum())
        self.seen.update(ids[keep])
        return chunk[keep]


@pa.check_output(PredictionsSchema.to_schema(), lazy=True)
def score(features: pd.DataFrame, model: Model, version: str, threshold: float) -> pd.DataFrame:
    """Score a frame of features; the output is checked against the predictions contract."""
    probabilities = model.predict_proba(features)
    return pd.DataFrame(
        {
            ID_COLUMN: features[ID_COLUMN].to_numpy(),
            "prediction": (probabilities >= threshold).astype(int),
            "probability": probabilities,
            "model_version": version,
        }
    )


@log_time
def predict(
    settings: Settings, input_uri: str | None = None, output_uri: str | None = None
) -> PredictResult:
    input_uri = input_uri or settings.data.predict_input_uri
    output_uri = output_uri or settings.data.predictions_uri
    model, card = Registry(settings.storage.registry_uri, settings.model.name).load(settings.env)
    version = f"v{card.version}"
    rows = 0
    unique = FirstRecordPerId()
    store = Store(settings.store.url)
    scored_at = utc_now()
    try:
        with io.atomic_write(output_uri) as handle:
            for chunk in map(unique, data.stream_raw(input_uri, settings.data.chunk_rows)):
                if chunk.empty:
                    continue
                features = data.build_features(data.clean(chunk))
                scored = score(features, model, version, settings.model.threshold)
                scored.to_csv(handle, index=False, header=rows == 0)
                with store.transaction() as connection:  # one per chunk: short write locks
                    store.write_batch(connection, features, scored, scored_at)
                rows += len(scored)
            if rows == 0:
                handle.write(f"{','.join(PredictionsSchema.to_schema().columns)}\n".encode())
    finally:
        store.close()
    if unique.dropped:
        logger.warning("predict.duplicates_dropped", rows=unique.dropped, kept="first record")
    logger.info("predict.written", rows=rows, output=output_uri, model_version=version)
    return PredictResult(
        rows=rows, output_uri=output_uri, model_version=card.version, duplicates=unique.dropped
    )
