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

from {{cookiecutter.package_name}}.contracts import FEATURE_COLUMNS
from {{cookiecutter.package_name}}.data import add_features, apply_cleaning
from {{cookiecutter.package_name}}.settings import load_settings
from {{cookiecutter.package_name}}.store import (
    TABLE,
    FeedbackConflictError,
    PredictionRow,
    Store,
    StoreError,
    UnknownPredictionError,
    describe_error,
    json_records,
    new_prediction_id,
)
from tests.conftest import PROJECT_ROOT, fresh_database

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def row(
    minutes: int, entity: str = "C1", version: str = "v1", prediction: int = 1
) -> PredictionRow:
    return PredictionRow(
        id=new_prediction_id(),
        created_at=T0 + timedelta(minutes=minutes),
        entity_id=entity,
        model_version=version,
        prediction=prediction,
        probability=0.8 if prediction else 0.2,
        source="request",
        features={"tenure_months": minutes, "contract": None},
    )


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
    logged = row(0, prediction=1)
    any_store.log_predictions([logged])

    with pytest.raises(UnknownPredictionError, match="no prediction with id"):
        any_store.add_feedback("f" * 32, 1)
    assert any_store.add_feedback(logged.id, 0) is True
    assert any_store.add_feedback(logged.id, 0) is False  # a retry of the same outcome
    with pytest.raises(FeedbackConflictError, match="already has outcome 0") as conflict:
        any_store.add_feedback(logged.id, 1)
    assert conflict.value.stored == 0

    labelled = any_store.labelled_predictions(since=T0 - timedelta(days=1))
    assert labelled[["id", "prediction", "outcome"]].values.tolist() == [[logged.id, 1, 0]]


def test_predictions_without_features_are_left_out_of_recent_features(any_store: Store) -> None:
    """An entity lookup logs no features: stored as SQL NULL, and old JSON nulls are skipped."""
    lookup = PredictionRow(
        id=new_prediction_id(),
        created_at=T0,
        entity_id="C9",
        model_version="baseline",
        prediction=0,
        probability=0.35,
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
    assert recent["tenure_months"].tolist() == [0]


def test_database_errors_carry_no_parameters(any_store: Store) -> None:
    secret = "CUSTOMER-SECRET-42"
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


def test_batch_output_is_upserted_per_entity(store: Store) -> None:
    features = pd.DataFrame({"customer_id": ["A", "B"], "tenure_months": [1, 2]}).reindex(
        columns=["customer_id", *_feature_columns()]
    )
    scored = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "prediction": [1, 0],
            "probability": [0.9, 0.1],
            "model_version": ["v1", "v1"],
        }
    )
    with store.transaction() as connection:
        store.write_batch(connection, features, scored, T0)
    later = T0 + timedelta(hours=1)
    with store.transaction() as connection:
        update = scored.head(1).assign(model_version="v2")
        store.write_batch(connection, features.head(1), update, later)

    stored = store.online_features("A")
    assert stored is not None
    assert stored.computed_at == T0 + timedelta(hours=1)
    assert stored.features["tenure_months"] == 1
    assert stored.features["monthly_charges"] is None
    batch_a, batch_b = store.batch_prediction("A"), store.batch_prediction("B")
    assert batch_a is not None
    assert batch_b is not None
    assert (batch_a.model_version, batch_b.model_version) == ("v2", "v1")
    assert store.online_features("nobody") is None
    assert len(store.recent_features(since=T0)) == 2


def test_batch_features_round_trip_through_typed_columns(
    any_store: Store, customers: pd.DataFrame
) -> None:
    """Every value the features contract allows comes back as written, in bulk, per entity."""
    features = add_features(apply_cleaning(customers.drop(columns=["churned"])))
    features.loc[3, "monthly_charges"] = float("nan")
    features.loc[4, "charges_per_tenure_month"] = 1 / 3
    scored = pd.DataFrame(
        {
            "customer_id": features["customer_id"],
            "prediction": 1,
            "probability": 0.75,
            "model_version": "v3",
        }
    )
    with any_store.transaction() as connection:
        any_store.write_batch(connection, features, scored, T0)
        any_store.write_batch(connection, features.head(2), scored.head(2), T0)

    for index in (0, 3, 4, len(features) - 1):
        stored = any_store.online_features(str(features.at[index, "customer_id"]))
        assert stored is not None
        expected = json_records(features.loc[[index], list(FEATURE_COLUMNS)])[0]
        assert stored.features == expected
        assert stored.computed_at == T0
    recent = any_store.recent_features(since=T0)
    assert len(recent) == len(features)
    assert recent["tenure_months"].sum() == features["tenure_months"].sum()
    batch = any_store.batch_prediction(str(features.at[7, "customer_id"]))
    assert batch is not None
    assert (batch.prediction, batch.probability, batch.model_version) == (1, 0.75, "v3")


def test_online_features_of_an_older_layout_are_rebuilt(store_url: str) -> None:
    """A table from before typed columns (one JSON column) or before a new feature column."""
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
        connection.execute(sa.text("ALTER TABLE online_features DROP COLUMN support_calls"))
    engine.dispose()

    store = Store(store_url)
    features = pd.DataFrame(
        [{"customer_id": "A", **dict.fromkeys(FEATURE_COLUMNS), "support_calls": 4}]
    )
    scored = pd.DataFrame(
        {"customer_id": ["A"], "prediction": [0], "probability": [0.1], "model_version": ["v1"]}
    )
    with store.transaction() as connection:
        store.write_batch(connection, features, scored, T0)
    stored = store.online_features("A")
    assert stored is not None
    assert stored.features["support_calls"] == 4


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


def _feature_columns() -> list[str]:
    return list(FEATURE_COLUMNS)
