"""Generated sequences of what users do: requests to the real service and the real jobs.

The module trains a model with the `train` command and starts the `serve` command over
a socket, on a fresh prediction store of the kind configs/local.yaml names. Each example
empties the store and runs a generated sequence of requests (one record, a list, a known
or unknown id, a CSV upload, feedback, history) and jobs (`train`, `predict`, `monitor`,
through the command line, in this process). Records are drawn from the contract, so the
sequences run on any table and task. After every step:

- every job exited with a documented code (0, or 7 when monitor asks for a retrain)
  and printed no traceback;
- every prediction the service acknowledged (an id in a 200 answer) is in the store;
- every accepted feedback is in the store, with the first accepted outcome.
"""

import contextlib
import csv
import io
import string
import traceback
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from threadpoolctl import threadpool_limits

from {{ cookiecutter.package_name }}.cli import ExitCode, main
from {{ cookiecutter.package_name }}.contracts import CLASSES, ID_COLUMN, TARGET_COLUMN
from {{ cookiecutter.package_name }}.datagen import generate
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from {{ cookiecutter.package_name }}.store import Label, feedback, metadata, predictions
from tests.conftest import ANY_MODEL, PROJECT_ROOT, fresh_store_url
from tests.serving.conftest import Server, record

# A few hundred rows keep every job well under a second.
TABLE = generate(300, seed=16)
IDS: list[str] = [] if ID_COLUMN is None else TABLE[ID_COLUMN].astype(str).tolist()
ROWS = st.integers(0, len(TABLE) - 1)
# Outcomes feedback may give: the classes, or target values of the table.
OUTCOMES: list[Label] = list(CLASSES) or TABLE[TARGET_COLUMN].head(5).tolist()
# Ids no row has: the service answers with the model card's baseline.
UNKNOWN_IDS = st.text(string.ascii_letters + string.digits, min_size=1, max_size=20).map(
    lambda text: f"new-{text}"
)
JOB_CODES = {
    "train": {ExitCode.OK},
    "predict": {ExitCode.OK},
    "monitor": {ExitCode.OK, ExitCode.RETRAIN_NEEDED},
}


class Workspace:
    """A store, a trained model and the service answering on a socket."""

    def __init__(self, folder: Path) -> None:
        with contextlib.ExitStack() as stack:
            store_url = stack.enter_context(fresh_store_url(folder))
            self.engine = sa.create_engine(store_url)
            stack.callback(self.engine.dispose)
            self.server = Server(folder, store_url)
            self.client = stack.enter_context(httpx.Client(base_url=self.server.url, timeout=60))
            self.stack = stack.pop_all()
        records = folder / "records.csv"
        TABLE.to_csv(records, index=False)
        # The jobs see what the service sees, plus small data and thresholds that a
        # short sequence can reach (monitor judges accuracy and drift early).
        self.job_env = self.server.overrides | {
            f"{ENV_PREFIX}DATA__TRAIN_URI": str(records),
            f"{ENV_PREFIX}DATA__PREDICT_INPUT_URI": str(records),
            # The sequences need a model, not a good one.
            f"{ENV_PREFIX}TRAINING__GATE": str(ANY_MODEL.gate),
            f"{ENV_PREFIX}MONITORING__MIN_FEEDBACK": "3",
            f"{ENV_PREFIX}MONITORING__MIN_ROWS": "20",
            # One native thread: the jobs share the cores with the service and the tests.
            f"{ENV_PREFIX}RUNTIME__THREADS": "1",
        }

    def start(self) -> None:
        code, output = self.run_job("train")
        assert code == ExitCode.OK, f"train exited {code}:\n{output}"
        self.server.start()

    def empty_store(self) -> None:
        """Remove every row, as if the service had just been deployed."""
        # /history writes what the service still holds in memory first.
        self.client.get("/history", params={"limit": 1}).raise_for_status()
        with self.engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())

    def close(self) -> None:
        try:
            if self.server.process is not None and self.server.process.poll() is None:
                self.server.stop()
        finally:
            self.stack.close()

    def run_job(self, job: str) -> tuple[int | None, str]:
        """Run `<pkg> <job> --env local` in this process; its exit code and output."""
        output = io.StringIO()
        with (
            pytest.MonkeyPatch.context() as patch,
            contextlib.redirect_stdout(output),
            contextlib.redirect_stderr(output),
            threadpool_limits(limits=1),
        ):
            patch.chdir(PROJECT_ROOT)
            for key, value in self.job_env.items():
                patch.setenv(key, value)
            try:
                code: int | None = main([job, "--env", "local"])
            except SystemExit as error:
                code = error.code if isinstance(error.code, int) else None
            except Exception:
                code = None
                output.write(traceback.format_exc())
        return code, output.getvalue()

    def stored_predictions(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.execute(sa.select(predictions.c.id)).scalars())

    def stored_feedback(self) -> dict[str, set[Label]]:
        outcomes: dict[str, set[Label]] = defaultdict(set)
        query = sa.select(feedback.c.prediction_id, feedback.c.outcome)
        with self.engine.connect() as connection:
            for prediction_id, outcome in connection.execute(query):
                outcomes[prediction_id].add(outcome)
        return outcomes


def csv_body(rows: list[int]) -> bytes:
    frame = TABLE.drop(columns=[TARGET_COLUMN]).iloc[rows]
    return frame.to_csv(index=False).encode()


class Workflow(RuleBasedStateMachine):
    """The service and the jobs on one store, driven the way users drive them."""

    workspace: ClassVar[Workspace]
    predictions = Bundle("predictions")

    def __init__(self) -> None:
        super().__init__()
        self.workspace.empty_store()
        self.client = self.workspace.client
        self.acknowledged: set[str] = set()
        self.first_outcome: dict[str, Label] = {}
        self.scored = False  # a predict job has written every row's features

    @staticmethod
    def ok(response: httpx.Response) -> httpx.Response:
        assert response.status_code == 200, f"{response.status_code}: {response.text}"
        return response

    def acknowledge(self, ids: list[str]) -> MultipleResults[str]:
        assert len(set(ids)) == len(ids), "the service answered one id twice"
        assert not self.acknowledged & set(ids), "the service answered a known id again"
        self.acknowledged.update(ids)
        return multiple(*ids)

    # Requests --------------------------------------------------------------------------

    @rule(target=predictions, row=ROWS)
    def predict_one(self, row: int) -> MultipleResults[str]:
        response = self.ok(self.client.post("/predict", json=record(TABLE, row)))
        return self.acknowledge([item["prediction_id"] for item in response.json()["predictions"]])

    @rule(target=predictions, rows=st.lists(ROWS, min_size=1, max_size=5))
    def predict_list(self, rows: list[int]) -> MultipleResults[str]:
        body = [record(TABLE, row) for row in rows]
        response = self.ok(self.client.post("/predict", json=body))
        ids = [item["prediction_id"] for item in response.json()["predictions"]]
        assert len(ids) == len(rows)
        return self.acknowledge(ids)

    def lookup(self, entity_id: str, source: str) -> MultipleResults[str]:
        """GET /predict/{id}: answered from `source`, or 404 when the table has no ids."""
        response = self.client.get(f"/predict/{entity_id}")
        if ID_COLUMN is None:
            assert response.status_code == 404, f"{response.status_code}: {response.text}"
            return multiple()
        answer = self.ok(response).json()
        assert answer["source"] == source, answer
        return self.acknowledge([answer["prediction_id"]])

    @rule(target=predictions, row=ROWS)
    def predict_known_entity(self, row: int) -> MultipleResults[str]:
        entity_id = IDS[row] if IDS else f"row-{row}"
        return self.lookup(entity_id, "online-features" if self.scored else "baseline")

    @rule(target=predictions, entity_id=UNKNOWN_IDS)
    def predict_unknown_entity(self, entity_id: str) -> MultipleResults[str]:
        return self.lookup(entity_id, "baseline")

    @rule(target=predictions, rows=st.lists(ROWS, min_size=1, max_size=5))
    def predict_upload(self, rows: list[int]) -> MultipleResults[str]:
        upload = {"file": ("records.csv", csv_body(rows), "text/csv")}
        response = self.ok(self.client.post("/predict-batch", files=upload))
        answered = list(csv.DictReader(io.StringIO(response.text)))
        if ID_COLUMN is None:  # every row is scored
            assert len(answered) == len(rows)
        else:  # each entity is scored once: a repeated id keeps its first record
            entities = list(dict.fromkeys(TABLE[ID_COLUMN].iloc[rows]))
            assert [line[ID_COLUMN] for line in answered] == entities
        return self.acknowledge([line["prediction_id"] for line in answered])

    @rule(prediction_id=predictions, outcome=st.sampled_from(OUTCOMES))
    def give_feedback(self, prediction_id: str, outcome: Label) -> None:
        response = self.client.post(
            "/feedback", json={"prediction_id": prediction_id, "outcome": outcome}
        )
        if prediction_id not in self.first_outcome:
            self.ok(response)
            self.first_outcome[prediction_id] = outcome
        else:
            # Repeated: accepted again, or refused (409) because a different one is stored.
            assert response.status_code in (200, 409), f"{response.status_code}: {response.text}"

    @rule(prediction_id=st.uuids().map(lambda value: value.hex))
    def give_feedback_on_an_unknown_prediction(self, prediction_id: str) -> None:
        response = self.client.post(
            "/feedback", json={"prediction_id": prediction_id, "outcome": OUTCOMES[0]}
        )
        assert response.status_code == 404, f"{response.status_code}: {response.text}"

    @rule(limit=st.integers(1, 50))
    def read_history(self, limit: int) -> None:
        page = self.ok(self.client.get("/history", params={"limit": limit})).json()
        assert page["total"] == len(self.acknowledged)
        assert {item["prediction_id"] for item in page["items"]} <= self.acknowledged

    # Jobs --------------------------------------------------------------------------------

    def job(self, name: str) -> None:
        code, output = self.workspace.run_job(name)
        assert "Traceback" not in output, f"{name} printed a traceback:\n{output}"
        assert code in JOB_CODES[name], f"{name} exited {code}:\n{output}"

    @rule()
    def train(self) -> None:
        self.job("train")

    @rule()
    def predict(self) -> None:
        self.job("predict")
        self.scored = True

    @rule()
    def monitor(self) -> None:
        self.job("monitor")

    # What must hold after every step -----------------------------------------------------

    @invariant()
    def acknowledged_predictions_are_stored(self) -> None:
        missing = self.acknowledged - self.workspace.stored_predictions()
        assert not missing, (
            f"{len(missing)} acknowledged predictions are not in the store: {sorted(missing)[:3]}"
        )

    @invariant()
    def accepted_feedback_is_stored(self) -> None:
        stored = self.workspace.stored_feedback()
        wrong = {
            prediction_id: sorted(stored.get(prediction_id, set()))
            for prediction_id, outcome in self.first_outcome.items()
            if stored.get(prediction_id) != {outcome}
        }
        assert not wrong, f"stored outcomes differ from the first accepted ones: {wrong}"

    def check(self) -> None:
        """Every invariant, for sequences written by hand."""
        self.acknowledged_predictions_are_stored()
        self.accepted_feedback_is_stored()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    running = Workspace(tmp_path_factory.mktemp("workflow"))
    try:
        running.start()
        yield running
    finally:
        running.close()


@pytest.fixture
def workflow(workspace: Workspace) -> type[Workflow]:
    Workflow.workspace = workspace
    return Workflow


def test_generated_sequences_of_requests_and_jobs(workflow: type[Workflow]) -> None:
    run_state_machine_as_test(
        workflow,
        settings=settings(
            max_examples=5,
            stateful_step_count=10,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_monitor_after_an_entity_lookup(workflow: type[Workflow]) -> None:
    """The sequence users met: train, predict, serve, GET /predict/{id}, then monitor."""
    machine = workflow()
    machine.check()
    machine.predict()
    machine.check()
    machine.predict_known_entity(row=0)
    machine.check()
    machine.predict_unknown_entity(entity_id="new-entity")
    machine.check()
    machine.monitor()
    machine.check()
