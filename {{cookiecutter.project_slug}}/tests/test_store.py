"""The prediction store on the backend configs/local.yaml names (a fresh one per test).

Tests taking `any_store` run on a SQLite file and on a fresh PostgreSQL database
(when the driver is installed and the server of configs/local.yaml, or the local
default, answers).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from {{cookiecutter.package_name}}.contracts import (
    CLASSES,
    FEATURE_COLUMNS,
    ID_COLUMN,
    TARGET_COLUMN,
    features_contract,
    is_number,
)
from {{cookiecutter.package_name}}.data import add_features, apply_cleaning
from {{cookiecutter.package_name}}.datagen import generate
from {{cookiecutter.package_name}}.settings import load_settings
from {{cookiecutter.package_name}}.store import (
    TABLE,
    FeedbackConflictError,
    Label,
    PredictionRow,
    Store,
    StoreError,
    UnknownPredictionError,
    describe_error,
    feedback,
    json_records,
    new_prediction_id,
    predictions,
)
from tests.conftest import PROJECT_ROOT, fresh_database, needs_id

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

T0 = datetime(2025, 1, 1, tzinfo=UTC)
# Two different predictions (and outcomes) of the task: classes, or values.
LABELS: tuple[Label, Label] = (CLASSES[0], CLASSES[-1]) if CLASSES else (12.5, 40.25)


def probability_of(prediction: Label) -> float | None:
    """A probability for a classifier's prediction; None for regression."""
    if not CLASSES:
        return None
    return 0.8 if prediction == LABELS[1] else 0.2


def row(
    minutes: int, entity: str = "C1", version: str = "v1", prediction: Label = LABELS[1]
) -> PredictionRow:
    return PredictionRow(
        id=new_prediction_id(),
        created_at=T0 + timedelta(minutes=minutes),
        entity_id=entity,
        model_version=version,
        prediction=prediction,
        probability=probability_of(prediction),
        source="request",
        features={FEATURE_COLUMNS[0]: minutes, FEATURE_COLUMNS[-1]: None},
    )


def features_of(raw: pd.DataFrame) -> pd.DataFrame:
    """The features of raw records, as batch scoring computes them."""
    return add_features(apply_cleaning(raw.drop(columns=[TARGET_COLUMN], errors="ignore")))


def scored_of(ids: pd.Series, prediction: Label, version: str) -> pd.DataFrame:
    """Batch output for `ids`, with the columns of the predictions contract."""
    assert ID_COLUMN is not None
    frame = pd.DataFrame({ID_COLUMN: ids.to_numpy(), "prediction": prediction})
    if CLASSES:
        frame["probability"] = probability_of(prediction)
    return frame.assign(model_version=version)


@pytest.fixture
def store(store_url: str) -> Store:
    return Store(store_url)


def server_answers(configured: sa.URL) -> bool:
    server = sa.create_engine(configured.set(database="postgres"))
    try:
        with server.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        server.dispose()


@contextmanager
def fresh_postgres_url() -> Iterator[str]:
    """A database of its own on a reachable PostgreSQL server, dropped afterwards."""
    pytest.importorskip("psycopg", reason="PostgreSQL driver not installed")
    configured = sa.make_url(load_settings("local", PROJECT_ROOT / "configs").store.url)
    if configured.get_backend_name() != "postgresql":
        configured = sa.make_url(LOCAL_POSTGRES)
    if not server_answers(configured):
        pytest.skip(f"no PostgreSQL server at {configured.host}:{configured.port}")
    with fresh_database(configured) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'store.db'}")
        yield store
        store.close()
        return
    with fresh_postgres_url() as url:
        store = Store(url)
        yield store
        store.close()


def test_history_is_newest_first_filtered_and_paged(store: Store) -> None:
    rows = [row(0), row(1, "C2"), row(2, version="v2"), row(3)]
    store.log_predictions(rows)

    page, total = store.history(limit=2)
    assert total == 4
    assert [item.id for item in page] == [rows[3].id, rows[2].id]
    assert store.history(limit=2, offset=2)[0] == [rows[1], rows[0]]
    assert store.history(entity_id="C2")[1] == 1
    assert store.history(model_version="v2")[0] == [rows[2]]
    window = store.history(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3))[0]
    assert [item.id for item in window] == [rows[2].id, rows[1].id]


def test_feedback_needs_a_known_prediction_and_keeps_the_first_outcome(any_store: Store) -> None:
    first, other = LABELS
    logged = row(0, prediction=other)
    any_store.log_predictions([logged])

    with pytest.raises(UnknownPredictionError, match="no prediction with id"):
        any_store.add_feedback("f" * 32, first)
    assert any_store.add_feedback(logged.id, first) is True
    assert any_store.add_feedback(logged.id, first) is False  # a retry of the same outcome
    with pytest.raises(FeedbackConflictError, match=f"already has outcome {first}") as conflict:
        any_store.add_feedback(logged.id, other)
    assert conflict.value.stored == first

    labelled = any_store.labelled_predictions(since=T0 - timedelta(days=1))
    assert list(labelled.columns) == ["id", "model_version", "prediction", "probability", "outcome"]
    assert labelled[["id", "prediction", "outcome"]].values.tolist() == [[logged.id, other, first]]
    assert labelled["probability"].isna().all() == (not CLASSES)


def test_predictions_and_outcomes_keep_the_type_of_the_task(any_store: Store) -> None:
    """Class labels come back as the target's type (int or text), values as floats."""
    kind = sa.Double if not CLASSES else sa.Text if isinstance(LABELS[0], str) else sa.BigInteger
    assert isinstance(predictions.c.prediction.type, kind)
    assert isinstance(feedback.c.outcome.type, kind if CLASSES else sa.Double)
    logged = [row(0, prediction=LABELS[0]), row(1, prediction=LABELS[1])]
    any_store.log_predictions(logged)
    any_store.add_feedback(logged[0].id, LABELS[1])

    stored, _ = any_store.history()
    labelled = any_store.labelled_predictions(since=T0 - timedelta(days=1))

    assert [item.prediction for item in stored] == [LABELS[1], LABELS[0]]
    assert [type(item.prediction) for item in stored] == [type(label) for label in LABELS[::-1]]
    assert [item.probability for item in stored] == [
        probability_of(LABELS[1]),
        probability_of(LABELS[0]),
    ]
    (outcome,) = labelled["outcome"].tolist()
    assert outcome == LABELS[1]
    assert type(outcome) is type(LABELS[1])


def test_predictions_without_features_are_left_out_of_recent_features(any_store: Store) -> None:
    """An entity lookup logs no features: stored as SQL NULL, and old JSON nulls are skipped."""
    lookup = PredictionRow(
        id=new_prediction_id(),
        created_at=T0,
        entity_id="C9",
        model_version="baseline",
        prediction=LABELS[0],
        probability=probability_of(LABELS[0]),
        source="baseline",
    )
    legacy = row(1)
    any_store.log_predictions([row(0), lookup, legacy])
    with any_store.engine.begin() as connection:  # as databases written before the fix hold
        connection.execute(
            sa.text("UPDATE predictions SET features = 'null' WHERE id = :id"), {"id": legacy.id}
        )
        stored_null = connection.execute(
            sa.text("SELECT count(*) FROM predictions WHERE features IS NULL")
        ).scalar_one()

    recent = any_store.recent_features(since=T0 - timedelta(days=1))

    assert stored_null == 1
    assert list(recent.columns) == list(FEATURE_COLUMNS)
    assert recent[FEATURE_COLUMNS[0]].tolist() == [0]


def test_database_errors_carry_no_parameters(any_store: Store) -> None:
    secret = "ENTITY-SECRET-42"
    logged = row(0, entity=secret)
    any_store.log_predictions([logged])

    with pytest.raises(sa.exc.IntegrityError) as duplicate:
        any_store.log_predictions([logged])

    assert secret not in str(duplicate.value)
    assert secret not in describe_error(duplicate.value)
    assert logged.id not in describe_error(duplicate.value)


@given(text=st.text(min_size=1, max_size=300))
@settings(max_examples=50, deadline=None)
def test_described_errors_are_one_short_line(text: str) -> None:
    described = describe_error(sa.exc.OperationalError("INSERT ...", {}, Exception(text)))
    assert len(described.splitlines()) <= 1
    assert len(described) <= 200 + len(" (999 characters)")  # cut, with the length noted


@needs_id
def test_batch_output_is_upserted_per_entity(store: Store) -> None:
    assert ID_COLUMN is not None
    features = features_of(generate(2, seed=1))
    features[ID_COLUMN] = ["A", "B"]
    scored = scored_of(features[ID_COLUMN], LABELS[1], "v1")
    with store.transaction() as connection:
        store.write_batch(connection, features, scored, T0)
    later = T0 + timedelta(hours=1)
    with store.transaction() as connection:
        update = scored_of(features[ID_COLUMN].head(1), LABELS[0], "v2")
        store.write_batch(connection, features.head(1), update, later)

    stored = store.online_features("A")
    assert stored is not None
    assert stored.computed_at == T0 + timedelta(hours=1)
    assert stored.features == json_records(features.loc[[0], list(FEATURE_COLUMNS)])[0]
    batch_a, batch_b = store.batch_prediction("A"), store.batch_prediction("B")
    assert batch_a is not None
    assert batch_b is not None
    assert (batch_a.model_version, batch_b.model_version) == ("v2", "v1")
    assert (batch_a.prediction, batch_b.prediction) == LABELS
    assert (batch_a.probability, batch_b.probability) == tuple(map(probability_of, LABELS))
    assert store.online_features("nobody") is None
    assert len(store.recent_features(since=T0)) == 2


@pytest.mark.skipif(ID_COLUMN is not None, reason="the table has an id column")
def test_batch_output_without_ids_has_no_entity_to_store(store: Store) -> None:
    features = features_of(generate(2, seed=1))
    scored = pd.DataFrame({"prediction": [LABELS[0]] * 2, "model_version": "v1"})
    with pytest.raises(StoreError, match="no id column"), store.transaction() as connection:
        store.write_batch(connection, features, scored, T0)


def _nullable_number() -> str | None:
    """A numeric feature the contract lets be missing, if the table has one."""
    for name in FEATURE_COLUMNS:
        column = features_contract.columns[name]
        if is_number(column) and column.nullable:
            return str(name)
    return None


@needs_id
def test_batch_features_round_trip_through_typed_columns(
    any_store: Store, table: pd.DataFrame
) -> None:
    """Every value the features contract allows comes back as written, in bulk, per entity."""
    assert ID_COLUMN is not None
    features = features_of(table)
    missing = _nullable_number()
    if missing is not None:
        features.loc[3, missing] = float("nan")
    floats = [name for name in FEATURE_COLUMNS if str(features[name].dtype).startswith("float")]
    for name in floats[:1]:
        features.loc[4, name] = 1 / 3
    scored = scored_of(features[ID_COLUMN], LABELS[1], "v3")
    with any_store.transaction() as connection:
        any_store.write_batch(connection, features, scored, T0)
        any_store.write_batch(connection, features.head(2), scored.head(2), T0)

    for index in (0, 3, 4, len(features) - 1):
        stored = any_store.online_features(str(features.at[index, ID_COLUMN]))
        assert stored is not None
        expected = json_records(features.loc[[index], list(FEATURE_COLUMNS)])[0]
        assert stored.features == expected
        assert stored.computed_at == T0
    recent = any_store.recent_features(since=T0)
    assert len(recent) == len(features)
    for name in [name for name in FEATURE_COLUMNS if is_number(features_contract.columns[name])]:
        assert recent[name].sum() == pytest.approx(features[name].sum())
    batch = any_store.batch_prediction(str(features.at[7, ID_COLUMN]))
    assert batch is not None
    expected_batch = (LABELS[1], probability_of(LABELS[1]), "v3")
    assert (batch.prediction, batch.probability, batch.model_version) == expected_batch


@needs_id
def test_online_features_of_an_older_layout_are_rebuilt(store_url: str) -> None:
    """A table from before typed columns (one JSON column) or before a new feature column."""
    assert ID_COLUMN is not None
    added = FEATURE_COLUMNS[-1]
    engine = sa.create_engine(store_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE online_features (entity_id VARCHAR(64) PRIMARY KEY,"
                " features JSON NOT NULL, computed_at TIMESTAMP NOT NULL)"
            )
        )
    engine.dispose()
    Store(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.begin() as connection:
        columns = {column["name"] for column in sa.inspect(connection).get_columns(TABLE)}
        assert columns == {"entity_id", "computed_at", *FEATURE_COLUMNS}
        quoted = connection.dialect.identifier_preparer.quote(added)
        connection.execute(sa.text(f"ALTER TABLE online_features DROP COLUMN {quoted}"))
    engine.dispose()

    store = Store(store_url)
    generated = features_of(generate(50, seed=2))
    value = generated[added].dropna().iloc[0]
    features = pd.DataFrame([{ID_COLUMN: "A", **dict.fromkeys(FEATURE_COLUMNS), added: value}])
    with store.transaction() as connection:
        store.write_batch(connection, features, scored_of(features[ID_COLUMN], LABELS[0], "v1"), T0)
    stored = store.online_features("A")
    assert stored is not None
    assert stored.features[added] == value


def test_a_store_made_for_another_task_is_refused_naming_its_columns(any_store: Store) -> None:
    """Predictions of another type (integers where text labels go, or text where numbers
    go): refused at start, not on every request."""
    url = any_store.engine.url.render_as_string(hide_password=False)
    other = "BIGINT" if isinstance(predictions.c.prediction.type, sa.Text) else "TEXT"
    with any_store.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE feedback"))
        connection.execute(sa.text("DROP TABLE predictions"))
        connection.execute(
            sa.text(
                "CREATE TABLE predictions (id VARCHAR(32) PRIMARY KEY,"
                " created_at TIMESTAMP NOT NULL, entity_id VARCHAR(64),"
                f" model_version VARCHAR(32) NOT NULL, prediction {other} NOT NULL,"
                " probability FLOAT, source VARCHAR(16) NOT NULL, features JSON)"
            )
        )
    any_store.close()

    with pytest.raises(StoreError, match=r"columns predictions\.prediction were made for"):
        Store(url)


def test_a_failed_job_writes_nothing(store: Store) -> None:
    def job() -> None:
        with store.transaction() as connection:
            store.log_predictions([row(0)], connection)
            raise RuntimeError("the job failed half way")

    with pytest.raises(RuntimeError):
        job()
    assert store.count_predictions() == 0


def test_unusable_store_is_reported_with_its_url(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StoreError, match=r"prediction store sqlite:///.*a-file/store\.db"):
        Store(f"sqlite:///{tmp_path / 'a-file' / 'store.db'}")


def test_sqlite_runs_in_wal_mode(store_url: str) -> None:
    store = Store(store_url)
    if store.engine.dialect.name != "sqlite":
        assert store.ping()
        return
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
