"""The prediction store: history, feedback, online features and latest batch predictions.

One SQLAlchemy schema, created on start, on SQLite (embedded file, WAL journal) or
PostgreSQL (the database is created on first use when the server allows it).

Tables:
    predictions         every prediction made (request, entity lookup, upload)
    feedback            the true outcome of a prediction, when it becomes known
    online_features     the latest features of each entity, written by batch scoring:
                        one typed column per column of the features contract
    batch_predictions   the latest batch prediction of each entity

Prediction and outcome columns take their SQL type from the contracts: the class label's
type (BIGINT or TEXT) for classifiers, DOUBLE for regression; `probability` is NULL for
regression. A table without an id column has no entities: batch scoring then writes
neither online features nor batch predictions, and history rows have no entity id.

Batch output is written in bulk: PostgreSQL copies each chunk into a temporary table
(COPY) and upserts from there in one statement; SQLite runs one prepared upsert over
all rows (executemany), its parameters converted per column rather than per row.
"""

import math
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pdm
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from .contracts import (
    FEATURE_COLUMNS,
    ID_COLUMN,
    TARGET_COLUMN,
    features_contract,
    predictions_contract,
    raw_contract,
)
from .logs import get_logger, shorten

logger = get_logger(__name__)

# A predicted class (int or text) or value; an outcome is the target's type.
Label = int | float | str


def sql_type(column: pdm.Column) -> sa.types.TypeEngine[Any]:
    """The SQL type of a contract column (int64 -> BIGINT, float64 -> DOUBLE, ...)."""
    dtype = column.dtype.type
    if pd.api.types.is_bool_dtype(dtype):
        return sa.Boolean()
    if pd.api.types.is_integer_dtype(dtype):
        return sa.BigInteger()
    if pd.api.types.is_float_dtype(dtype):
        return sa.Double()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return sa.DateTime(timezone=True)
    return sa.Text()


def column_type(name: str) -> sa.types.TypeEngine[Any]:
    """The SQL type of a column of the features contract."""
    return sql_type(features_contract.columns[name])


PREDICTION_TYPE = sql_type(predictions_contract.columns["prediction"])
OUTCOME_TYPE = sql_type(raw_contract.columns[TARGET_COLUMN])

metadata = sa.MetaData()

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("entity_id", sa.String(64), index=True),
    sa.Column("model_version", sa.String(32), nullable=False, index=True),
    sa.Column("prediction", PREDICTION_TYPE, nullable=False),
    sa.Column("probability", sa.Double, nullable=True),  # classifiers only
    sa.Column("source", sa.String(16), nullable=False),
    # A prediction without features (an entity lookup) stores SQL NULL, not JSON null.
    sa.Column("features", sa.JSON(none_as_null=True)),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("prediction_id", sa.String(32), sa.ForeignKey("predictions.id"), primary_key=True),
    sa.Column("outcome", OUTCOME_TYPE, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)


# Feature columns are nullable here: the contract checks values before they are written,
# and a column added to the contract later is NULL in rows written before it existed.
online_features = sa.Table(
    "online_features",
    metadata,
    sa.Column("entity_id", sa.String(64), primary_key=True),
    *(sa.Column(name, column_type(name), nullable=True) for name in FEATURE_COLUMNS),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

batch_predictions = sa.Table(
    "batch_predictions",
    metadata,
    sa.Column("entity_id", sa.String(64), primary_key=True),
    sa.Column("prediction", PREDICTION_TYPE, nullable=False),
    sa.Column("probability", sa.Double, nullable=True),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
)

Record = dict[str, Any]
TABLE = online_features.name


class StoreError(Exception):
    """The prediction store cannot be reached or used."""


class UnknownPredictionError(StoreError):
    """Feedback names a prediction id that was never logged."""


class FeedbackConflictError(StoreError):
    """A prediction already has a different outcome; the first one is kept."""

    def __init__(self, prediction_id: str, stored: Label) -> None:
        super().__init__(f"prediction {prediction_id!r} already has outcome {stored}")
        self.stored = stored


@dataclass(frozen=True)
class StoreHealth:
    """Whether the store answers and holds its tables; `reason` says what is wrong."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class PredictionRow:
    """One logged prediction."""

    id: str
    created_at: datetime
    entity_id: str | None
    model_version: str
    prediction: Label
    probability: float | None
    source: str
    features: Record | None = None


PREDICTION_FIELDS = tuple(field.name for field in fields(PredictionRow))


@dataclass(frozen=True)
class OnlineFeatures:
    entity_id: str
    features: Record
    computed_at: datetime


@dataclass(frozen=True)
class BatchPrediction:
    entity_id: str
    prediction: Label
    probability: float | None
    model_version: str
    scored_at: datetime


def new_prediction_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def json_records(frame: pd.DataFrame) -> list[Record]:
    """Rows as JSON-ready dicts: numpy scalars become Python ones, NaN becomes None."""
    records = [{str(key): value for key, value in row.items()} for row in frame.to_dict("records")]
    for record in records:
        for key, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                record[key] = None
            elif hasattr(value, "item"):
                record[key] = value.item()
    return records


def describe_error(error: BaseException) -> str:
    """A database error as one line without the statement's parameters.

    Engines hide parameters from SQLAlchemy's messages; the driver's own message can
    still quote values on its later lines (PostgreSQL's DETAIL), so only its first
    line is kept.
    """
    original = getattr(error, "orig", None) or error
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return shorten(f"{type(original).__name__}: {first_line}", 200)


def ensure_database(url: sa.URL) -> None:
    """Create the PostgreSQL database of `url` if it does not exist yet."""
    if url.get_backend_name() != "postgresql" or not url.database:
        return
    server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            ).scalar()
            if not exists:
                quoted = server.dialect.identifier_preparer.quote(url.database)
                connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
    finally:
        server.dispose()


def _enable_wal(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, hide_parameters=True)
        sa.event.listen(engine, "connect", _enable_wal)
        return engine
    ensure_database(parsed)
    return sa.create_engine(parsed, pool_pre_ping=True, hide_parameters=True)


def _kind(kind: sa.types.TypeEngine[Any]) -> str:
    if isinstance(kind, sa.Integer):
        return "integer"
    if isinstance(kind, sa.Float | sa.Numeric):
        return "number"
    if isinstance(kind, sa.String):
        return "text"
    return type(kind).__name__.lower()


def mismatched_answer_columns(engine: Engine) -> list[str]:
    """Prediction and outcome columns of the database made for another task.

    A database created before `adopt` switched the task (say from a binary to a
    regression target) holds integer predictions: writing values or text labels into
    it would fail on every request, so the store is refused at start, naming them.
    """
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        wrong = []
        for table, name in (
            (predictions, "prediction"),
            (predictions, "probability"),
            (batch_predictions, "prediction"),
            (batch_predictions, "probability"),
            (feedback, "outcome"),
        ):
            found = {column["name"]: column for column in inspector.get_columns(table.name)}
            if name not in found:
                continue
            expected = table.c[name]
            if _kind(found[name]["type"]) != _kind(expected.type) or (
                expected.nullable and not found[name]["nullable"]
            ):
                wrong.append(f"{table.name}.{name}")
    return wrong


def upgrade_online_features(engine: Engine) -> None:
    """Bring the online feature table to the features contract's columns.

    Columns new in the contract are added (NULL in existing rows). A table of the
    older layout, all features in one JSON column, is rebuilt empty: it only caches
    the last batch job's output, which the next job writes again.
    """
    with engine.begin() as connection:
        existing = {column["name"] for column in sa.inspect(connection).get_columns(TABLE)}
        if "features" in existing and "features" not in FEATURE_COLUMNS:
            logger.warning("store.online_features_rebuilt", reason="older JSON layout")
            online_features.drop(connection)
            online_features.create(connection)
            return
        quote = connection.dialect.identifier_preparer.quote
        for column in online_features.columns:
            if column.name not in existing:
                kind = column.type.compile(dialect=connection.dialect)
                connection.execute(
                    sa.text(f"ALTER TABLE {TABLE} ADD COLUMN {quote(column.name)} {kind}")
                )
                logger.info("store.column_added", table=TABLE, column=column.name)


class Store:
    """Reads and writes of the prediction store; safe to share between threads."""

    def __init__(self, url: str) -> None:
        try:
            self.engine = create_store_engine(url)
            metadata.create_all(self.engine)
            upgrade_online_features(self.engine)
            wrong = mismatched_answer_columns(self.engine)
        except (sa.exc.SQLAlchemyError, OSError) as error:
            raise StoreError(
                f"prediction store {_redacted(url)} is unusable: {describe_error(error)}"
            ) from None
        if wrong:
            self.engine.dispose()
            raise StoreError(
                f"prediction store {_redacted(url)}: columns {', '.join(wrong)} were made for"
                " another task than dataset.py's; point store.url at a new database, or"
                " migrate them"
            )

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        return self.health().ok

    def health(self) -> StoreHealth:
        """Connect and check that every table of the schema is there.

        Missing tables (a database replaced by an empty one) are reported, not
        recreated: the schema is created when a process starts, so a restart restores
        it deliberately rather than a running service writing into an unknown database.
        """
        try:
            with self.engine.connect() as connection:
                inspector = sa.inspect(connection)
                missing = [name for name in metadata.tables if not inspector.has_table(name)]
        except sa.exc.SQLAlchemyError as error:
            return StoreHealth(ok=False, reason=f"unreachable: {describe_error(error)}")
        if missing:
            return StoreHealth(ok=False, reason=f"tables missing: {', '.join(missing)}")
        return StoreHealth(ok=True)

    # History -------------------------------------------------------------------------

    def log_predictions(
        self, rows: Sequence[PredictionRow], connection: Connection | None = None
    ) -> None:
        if not rows:
            return
        # A shallow copy per row: `dataclasses.asdict` would deep-copy every features dict.
        values = [{name: getattr(row, name) for name in PREDICTION_FIELDS} for row in rows]
        if connection is not None:
            connection.execute(predictions.insert(), values)
            return
        with self.engine.begin() as own:
            own.execute(predictions.insert(), values)

    def history(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        entity_id: str | None = None,
        model_version: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[PredictionRow], int]:
        """Predictions newest first, and how many match the filters in total."""
        conditions = []
        if start is not None:
            conditions.append(predictions.c.created_at >= start)
        if end is not None:
            conditions.append(predictions.c.created_at < end)
        if entity_id is not None:
            conditions.append(predictions.c.entity_id == entity_id)
        if model_version is not None:
            conditions.append(predictions.c.model_version == model_version)
        query = (
            sa.select(predictions)
            .where(*conditions)
            .order_by(predictions.c.created_at.desc(), predictions.c.id)
            .limit(limit)
            .offset(offset)
        )
        count = sa.select(sa.func.count()).select_from(predictions).where(*conditions)
        with self.engine.connect() as connection:
            rows = [_prediction_row(row._mapping) for row in connection.execute(query)]
            total = int(connection.execute(count).scalar_one())
        return rows, total

    def count_predictions(self) -> int:
        with self.engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(predictions)
            return int(connection.execute(query).scalar_one())

    # Feedback ------------------------------------------------------------------------

    def add_feedback(self, prediction_id: str, outcome: Label) -> bool:
        """Record the true outcome of a logged prediction; the first outcome is kept.

        Returns True when this call stored it, False when the same outcome was already
        there (a retry). Raises FeedbackConflictError naming the stored outcome when a
        different one was, and UnknownPredictionError for an id never logged.
        """
        with self.engine.begin() as connection:
            known = connection.execute(
                sa.select(predictions.c.id).where(predictions.c.id == prediction_id)
            ).first()
            if known is None:
                raise UnknownPredictionError(f"no prediction with id {prediction_id!r}")
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            row = {"prediction_id": prediction_id, "outcome": outcome, "received_at": utc_now()}
            statement = dialect.insert(feedback).values(row).on_conflict_do_nothing()
            inserted = connection.execute(statement.returning(feedback.c.outcome)).first()
            if inserted is not None:
                return True
            stored = connection.execute(
                sa.select(feedback.c.outcome).where(feedback.c.prediction_id == prediction_id)
            ).scalar_one()
        if stored != outcome:
            raise FeedbackConflictError(prediction_id, stored)
        return False

    def labelled_predictions(self, since: datetime) -> pd.DataFrame:
        """Predictions made since `since` that have feedback.

        Columns id, model_version, prediction, probability (null for regression) and
        outcome, typed as the task's predictions and target are.
        """
        query = (
            sa.select(
                predictions.c.id,
                predictions.c.model_version,
                predictions.c.prediction,
                predictions.c.probability,
                feedback.c.outcome,
            )
            .join(feedback, feedback.c.prediction_id == predictions.c.id)
            .where(predictions.c.created_at >= since)
        )
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        columns = ["id", "model_version", "prediction", "probability", "outcome"]
        return pd.DataFrame(rows, columns=columns)

    def recent_features(self, since: datetime) -> pd.DataFrame:
        """Features seen since `since`: served requests plus the batch feature table."""
        served = sa.select(predictions.c.features).where(
            predictions.c.created_at >= since, predictions.c.features.is_not(None)
        )
        batch = sa.select(*_feature_columns()).where(online_features.c.computed_at >= since)
        with self.engine.connect() as connection:
            records = [row[0] for row in connection.execute(served)]
            stored = pd.DataFrame(connection.execute(batch).all(), columns=list(FEATURE_COLUMNS))
        # Databases written before features were stored as SQL NULL hold JSON nulls.
        served_frame = pd.DataFrame(
            [record for record in records if isinstance(record, dict)],
            columns=list(FEATURE_COLUMNS),
        )
        frames = [frame for frame in (served_frame, stored) if not frame.empty]
        if not frames:
            return served_frame
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    # Online features and batch predictions ---------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: everything written inside it is committed together, or nothing."""
        with self.engine.begin() as connection:
            yield connection

    def write_batch(
        self,
        connection: Connection,
        features: pd.DataFrame,
        scored: pd.DataFrame,
        at: datetime,
    ) -> None:
        """Upsert a chunk of batch output in bulk: each entity's features and prediction.

        An entity repeated in the chunk keeps its last row. Only a table with an id
        column has entities to key the rows by (StoreError otherwise).
        """
        identity = ID_COLUMN
        if identity is None:
            raise StoreError("the table has no id column: batch output has no entity to key")
        feature_rows = features[[identity, *FEATURE_COLUMNS]].rename(
            columns={identity: "entity_id"}
        )
        answers = [name for name in ("prediction", "probability") if name in scored]
        prediction_rows = scored[[identity, *answers, "model_version"]]
        prediction_rows = prediction_rows.rename(columns={identity: "entity_id"})
        bulk_upsert(connection, online_features, feature_rows, {"computed_at": at})
        bulk_upsert(connection, batch_predictions, prediction_rows, {"scored_at": at})

    def online_features(self, entity_id: str) -> OnlineFeatures | None:
        query = sa.select(online_features).where(online_features.c.entity_id == entity_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        values = row._mapping
        return OnlineFeatures(
            entity_id=row.entity_id,
            features={name: values[name] for name in FEATURE_COLUMNS},
            computed_at=as_utc(row.computed_at),
        )

    def batch_prediction(self, entity_id: str) -> BatchPrediction | None:
        query = sa.select(batch_predictions).where(batch_predictions.c.entity_id == entity_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return BatchPrediction(
            entity_id=row.entity_id,
            prediction=row.prediction,
            probability=row.probability,
            model_version=row.model_version,
            scored_at=as_utc(row.scored_at),
        )


def _feature_columns() -> list[sa.Column[Any]]:
    return [online_features.c[name] for name in FEATURE_COLUMNS]


def bulk_upsert(
    connection: Connection, table: sa.Table, frame: pd.DataFrame, constants: Record
) -> None:
    """Insert or update the rows of `frame` (columns named as the table's) in bulk.

    `constants` are columns with one value for every row (a timestamp). Rows are keyed
    by the table's primary key; of rows with the same key, the last wins.
    """
    keys = [column.name for column in table.primary_key]
    frame = frame.drop_duplicates(subset=keys, keep="last")
    if frame.empty:
        return
    names = [*frame.columns, *constants]
    if connection.dialect.name == "postgresql":
        _copy_upsert(connection, table, frame, constants)
        return
    statement = sqlite.insert(table)
    upsert = statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: statement.excluded[name] for name in names if name not in keys},
    )
    compiled = upsert.values({name: sa.bindparam(name) for name in names}).compile(
        dialect=connection.dialect
    )
    order = compiled.positiontup or []
    columns: dict[str, Iterable[Any]] = {
        name: _python_values(frame[name]) for name in frame.columns
    }
    for name, value in constants.items():
        kind = table.c[name].type.dialect_impl(connection.dialect)
        processor = kind.bind_processor(connection.dialect)
        columns[name] = repeat(processor(value) if processor else value)
    rows = list(zip(*(columns[name] for name in order), strict=False))
    connection.exec_driver_sql(compiled.string, rows)


def _python_values(series: pd.Series) -> list[Any]:
    """A column as Python values for a database driver: NaN and NA become None."""
    values: list[Any] = series.astype(object).where(series.notna(), None).tolist()
    return values


def _copy_upsert(
    connection: Connection, table: sa.Table, frame: pd.DataFrame, constants: Record
) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then upsert them in one statement."""
    staging = f"staging_{table.name}"
    quote = connection.dialect.identifier_preparer.quote
    listed = ", ".join(quote(name) for name in frame.columns)
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS"
        f" SELECT {listed} FROM {quote(table.name)} WITH NO DATA"
    )
    schema = pa.schema([(name, _arrow_type(table.c[name].type)) for name in frame.columns])
    arrow_rows = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    encoded = pa.BufferOutputStream()
    pa_csv.write_csv(arrow_rows, encoded, pa_csv.WriteOptions(include_header=False))
    driver = connection.connection.driver_connection
    assert driver is not None
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {staging} ({listed}) FROM STDIN (FORMAT csv)") as copy,
    ):
        copy.write(encoded.getvalue().to_pybytes())
    keys = [column.name for column in table.primary_key]
    source = sa.table(staging, *(sa.column(name) for name in frame.columns))
    selected = [
        *(source.c[name] for name in frame.columns),
        *(sa.literal(value, table.c[name].type) for name, value in constants.items()),
    ]
    statement = postgresql.insert(table).from_select(
        [*frame.columns, *constants], sa.select(*selected)
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=keys,
            set_={
                name: statement.excluded[name]
                for name in [*frame.columns, *constants]
                if name not in keys
            },
        )
    )
    connection.exec_driver_sql(f"DROP TABLE {staging}")


def _arrow_type(kind: sa.types.TypeEngine[Any]) -> pa.DataType:
    """The Arrow type that writes a column's values as PostgreSQL reads them from CSV."""
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    if isinstance(kind, sa.Integer):
        return pa.int64()
    if isinstance(kind, sa.Float):
        return pa.float64()
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us", tz="UTC")
    return pa.string()


def _prediction_row(mapping: Any) -> PredictionRow:
    values = dict(mapping)
    values["created_at"] = as_utc(values["created_at"])
    return PredictionRow(**values)


def _redacted(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)
