"""A versioned model store on any fsspec URI.

Layout under the registry URI:
    <name>/v<N>/model.skops       the serialised model
    <name>/v<N>/metadata.json     task, metrics, baseline, data fingerprint, sha256, ...
    <name>/aliases.json           alias (one per environment) -> version
A version exists once its metadata is written (last, atomically, after the card was
validated): a crash in between leaves a folder without metadata, which is not a version
and whose number is never reused.
{%- if cookiecutter.tracking == "mlflow" %}

With tracking=mlflow, `open_registry` returns `MlflowRegistry`: the same versions,
cards, aliases and checks, stored as run artifacts in the MLflow Model Registry.
{%- endif %}
"""

import hashlib
import json
import os
import subprocess
{%- if cookiecutter.tracking == "mlflow" %}
import tempfile
{%- endif %}
from collections.abc import Iterable
{%- if cookiecutter.tracking == "mlflow" %}
from contextlib import ExitStack
{%- endif %}
from datetime import UTC, datetime
from importlib import metadata
{%- if cookiecutter.tracking == "mlflow" %}
from pathlib import Path
{%- endif %}
from typing import Literal

import pandas as pd
{%- if cookiecutter.tracking == "mlflow" %}
from mlflow.exceptions import MlflowException
{%- endif %}
from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter, ValidationError

from . import io
from .contracts import CLASSES, FEATURE_COLUMNS, TASK
from .logs import get_logger, shorten
from .model import (
    GradientBoostingModel,
    Model,
    ModelLoadError,
    UntrustedModelError,
    json_safe,
)
{%- if cookiecutter.tracking == "mlflow" %}
from .settings import Settings, TrackingSettings
from .tracking import ACTIVE_RUN, open_client, start_run
{%- else %}
from .settings import Settings
{%- endif %}

logger = get_logger(__name__)
ALIASES = TypeAdapter(dict[str, int])
{%- if cookiecutter.tracking == "mlflow" %}
# A version's artifacts in its run, and the tag its registration ends with.
MODEL_PATH = "model"
SHA256_TAG = "sha256"
{%- endif %}


class RegistryError(Exception):
    """Base class of registry failures."""


class ModelNotFoundError(RegistryError):
    """No such version or alias."""


class IntegrityError(RegistryError):
    """A stored artifact does not match its recorded sha256."""


class CorruptVersionError(RegistryError):
    """A version's files are missing or unreadable."""


class IncompatibleModelError(RegistryError):
    """A stored model was trained for another task, other classes or other features."""


# A class label (int or text) or a regression value.
Label = int | float | str


class Baseline(BaseModel):
    """The answer for an entity nothing is known about, from the training target.

    Classifiers: the majority class and its share; regression: the mean, no probability.
    """

    model_config = ConfigDict(allow_inf_nan=False, frozen=True)

    prediction: Label
    probability: float | None


def baseline_of(target: pd.Series) -> Baseline:
    """The baseline answer of a training target, as the project's task reads it."""
    if len(target) == 0:
        raise ValueError("no training rows to take a baseline from")
    if TASK == "regression":
        return Baseline(prediction=float(target.astype(float).mean()), probability=None)
    counts = target.value_counts()
    # The most frequent class; a tie goes to the first in the contract's order.
    order = {label: position for position, label in enumerate(CLASSES)}
    majority = min(counts.index, key=lambda label: (-counts[label], order.get(label, 0)))
    (prediction,) = labels([majority])
    return Baseline(prediction=prediction, probability=float(counts[majority] / len(target)))


def labels(values: Iterable[object]) -> list[Label]:
    """Class labels as JSON values (NumPy scalars become Python ones)."""
    found = [json_safe(value) for value in values]
    return [value for value in found if isinstance(value, int | float | str)]


class ModelCard(BaseModel):
    """What the registry records about a version (metadata.json); metrics are finite."""

    model_config = ConfigDict(allow_inf_nan=False)

    name: str
    version: int
    created_at: datetime
    task: Literal["binary", "multiclass", "regression"]
    classes: list[Label]
    metric: str
    baseline: Baseline
    metrics: dict[str, float]
    data_fingerprint: str
    code_version: str
    sha256: str
    estimator: str = ""
    params: dict[str, JsonValue]
    features: list[str]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def code_version() -> str:
    """Package version plus the git commit (GIT_COMMIT, or asked from git).

    A working tree with uncommitted changes to tracked files is marked `.dirty`
    (e.g. `0.1.0+abc123.dirty`): the model was not trained from that commit alone.
    """
    version = metadata.version("{{ cookiecutter.project_slug }}")
    commit = os.environ.get("GIT_COMMIT", "")
    if not commit:
        try:
            commit = _git("rev-parse", "--short=12", "HEAD")
            if _git("status", "--porcelain", "--untracked-files=no"):
                commit = f"{commit}.dirty"
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return f"{version}+{commit}" if commit else version


class Registry:
    """Versions of one model under `uri`: written model first, metadata last."""

    def __init__(self, uri: str, name: str) -> None:
        self.uri = uri
        self.name = name
        self.root = io.join(uri, name)

    def _version_uri(self, version: int, filename: str) -> str:
        return io.join(self.root, f"v{version}", filename)

    def _folders(self) -> list[tuple[int, bool]]:
        """Every version folder, with whether its metadata exists (complete)."""
        fs, path = io.resolve(self.root)
        if not fs.exists(path):
            return []
        found = []
        for entry in fs.ls(path, detail=False):
            base = str(entry).rstrip("/").rsplit("/", 1)[-1]
            if base.startswith("v") and base[1:].isdigit():
                complete = fs.exists(f"{str(entry).rstrip('/')}/metadata.json")
                found.append((int(base[1:]), complete))
        return sorted(found)

    def versions(self) -> list[int]:
        """Versions whose metadata was written (a crash before that leaves no version)."""
        return [version for version, complete in self._folders() if complete]

    def register(
        self,
        model: Model,
        metrics: dict[str, float],
        data_fingerprint: str,
        params: dict[str, JsonValue] | None = None,
        *,
        metric: str,
        baseline: Baseline,
    ) -> ModelCard:
        """Store a new version; the card is validated before anything is written.

        `metric` names the metric the gate judged; `baseline` is what the service answers
        for unknown entities (`baseline_of` the training target).
        """
        version = max((number for number, _ in self._folders()), default=0) + 1
        payload = model.save()
        card = self._new_card(
            model, payload, version, metrics, data_fingerprint, params, metric, baseline
        )
        io.write_bytes(self._version_uri(version, "model.skops"), payload)
        io.write_text(self._version_uri(version, "metadata.json"), card.model_dump_json(indent=2))
        return card

    def _new_card(
        self,
        model: Model,
        payload: bytes,
        version: int,
        metrics: dict[str, float],
        data_fingerprint: str,
        params: dict[str, JsonValue] | None,
        metric: str,
        baseline: Baseline,
    ) -> ModelCard:
        """The card of a new version, validated (RegistryError) before anything is written."""
        try:
            return ModelCard(
                name=self.name,
                version=version,
                created_at=datetime.now(UTC),
                task=TASK,
                classes=labels(model.classes),
                metric=metric,
                baseline=baseline,
                metrics=metrics,
                data_fingerprint=data_fingerprint,
                code_version=code_version(),
                sha256=hashlib.sha256(payload).hexdigest(),
                estimator=model.estimator,
                params=model.params() if params is None else params,
                features=model.feature_names,
            )
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
                for issue in error.errors()
            )
            raise RegistryError(f"refusing to register {self.name!r}: {problems}") from None

    def card(self, version: int) -> ModelCard:
        uri = self._version_uri(version, "metadata.json")
        if not io.exists(uri):
            raise ModelNotFoundError(f"model {self.name!r} has no version {version} in {self.uri}")
        return self._parse_card(version, uri, io.read_bytes(uri))

    def _parse_card(self, version: int, uri: str, text: bytes) -> ModelCard:
        """A version's metadata.json read from `uri` (CorruptVersionError if invalid)."""
        try:
            return ModelCard.model_validate_json(text)
        except ValidationError as error:
            issue = error.errors()[0]
            where = ".".join(str(part) for part in issue["loc"]) or "file"
            raise CorruptVersionError(
                f"model {self.name!r} v{version}: unreadable {uri}"
                f" ({where}: {shorten(issue['msg'])}); re-register or remove that version"
            ) from None

    def aliases(self) -> dict[str, int]:
        uri = io.join(self.root, "aliases.json")
        if not io.exists(uri):
            return {}
        try:
            return ALIASES.validate_json(io.read_bytes(uri))
        except ValidationError:
            raise CorruptVersionError(
                f"unreadable {uri} (expected a JSON object of alias -> version);"
                " fix it or train again to rewrite it"
            ) from None

    def set_alias(self, alias: str, version: int) -> None:
        self.card(version)
        aliases = self.aliases() | {alias: version}
        io.write_text(io.join(self.root, "aliases.json"), json.dumps(aliases, indent=2))

    def resolve(self, reference: str) -> ModelCard:
        """Find a version by alias (e.g. an environment), `v<N>` or `latest`.

        `latest` is the newest version whose metadata reads; unreadable versions are
        skipped with a warning. A named version or alias that is unreadable is an error.
        """
        if reference == "latest":
            for version in reversed(self.versions()):
                try:
                    return self.card(version)
                except CorruptVersionError as error:
                    logger.warning("registry.version_skipped", version=version, reason=str(error))
            raise ModelNotFoundError(f"no model {self.name!r} registered in {self.uri}")
        if reference.startswith("v") and reference[1:].isdigit():
            return self.card(int(reference[1:]))
        aliases = self.aliases()
        if reference not in aliases:
            raise ModelNotFoundError(
                f"no model {self.name!r} with alias {shorten(reference)!r} in {self.uri}"
                f" (aliases: {sorted(aliases) or 'none'}); train one first"
            )
        return self.card(aliases[reference])

    def check_compatible(self, card: ModelCard) -> None:
        """IncompatibleModelError unless the version fits this project's dataset.py.

        A model answers for its task, its classes and its feature columns: after the
        table or task changed (`adopt`), older versions must be trained again.
        """
        where = f"model {self.name!r} v{card.version}"
        if card.task != TASK:
            raise IncompatibleModelError(
                f"{where} was trained for the {card.task} task, but this project's task"
                f" is {TASK} (dataset.py); train a model for it (make train)"
            )
        classes = labels(CLASSES)
        if card.classes != classes:
            raise IncompatibleModelError(
                f"{where} predicts the classes {shorten(card.classes)}, but the target's"
                f" classes are {shorten(classes)} (dataset.py); train it again"
            )
        if set(card.features) != set(FEATURE_COLUMNS):
            missing = sorted(set(FEATURE_COLUMNS) - set(card.features))
            extra = sorted(set(card.features) - set(FEATURE_COLUMNS))
            raise IncompatibleModelError(
                f"{where} was trained on other feature columns (missing: {shorten(missing)},"
                f" not in the contract: {shorten(extra)}); train it again"
            )

    def _payload(self, card: ModelCard) -> bytes:
        """The stored model bytes of a version (CorruptVersionError when missing)."""
        uri = self._version_uri(card.version, "model.skops")
        if not io.exists(uri):
            raise CorruptVersionError(
                f"model {self.name!r} v{card.version}: {uri} is missing;"
                " re-register or remove that version"
            )
        return io.read_bytes(uri)

    def load(self, reference: str) -> tuple[Model, ModelCard]:
        """Load a model after checking that it fits the project and its bytes match.

        IncompatibleModelError for another task, classes or features; IntegrityError
        when the bytes differ from the recorded sha256.
        """
        card = self.resolve(reference)
        self.check_compatible(card)
        payload = self._payload(card)
        digest = hashlib.sha256(payload).hexdigest()
        if digest != card.sha256:
            raise IntegrityError(
                f"model {self.name!r} v{card.version}: sha256 {digest} does not match "
                f"the recorded {card.sha256}; refusing to load a modified artifact"
            )
        try:
            return GradientBoostingModel.load(payload), card
        except UntrustedModelError:
            raise
        except ModelLoadError as error:
            raise CorruptVersionError(f"model {self.name!r} v{card.version}: {error}") from None


{%- if cookiecutter.tracking == "mlflow" %}


class MlflowRegistry(Registry):
    """The same versions, cards and aliases, kept in the MLflow Model Registry.

    A version's model.skops and metadata.json are artifacts of the run that trained it
    (under `model/`); the environment's alias is an MLflow alias. A version exists once
    its metadata is logged and tagged `sha256` (last): a crash before leaves an MLflow
    version without the tag, which is not a version here and whose number is not reused.
    """

    def __init__(self, tracking: TrackingSettings, name: str) -> None:
        self.client = open_client(tracking)
        self.tracking = tracking
        super().__init__(self.client.tracking_uri, name)

    def versions(self) -> list[int]:
        found = self.client.search_model_versions(f"name = '{self.name}'")
        return sorted(int(version.version) for version in found if SHA256_TAG in version.tags)

    def register(
        self,
        model: Model,
        metrics: dict[str, float],
        data_fingerprint: str,
        params: dict[str, JsonValue] | None = None,
        *,
        metric: str,
        baseline: Baseline,
    ) -> ModelCard:
        """Log the model to the active run (or a run of its own) and register a version."""
        payload = model.save()
        card = self._new_card(
            model, payload, 0, metrics, data_fingerprint, params, metric, baseline
        )
        with ExitStack() as stack:
            run = ACTIVE_RUN.get() or stack.enter_context(
                start_run(self.tracking, f"register-{self.name}", {"job": "register"})
            )
            run.log_bytes(payload, f"{MODEL_PATH}/model.skops")
            try:
                self.client.create_registered_model(self.name)
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            created = self.client.create_model_version(
                self.name, f"{run.artifact_uri}/{MODEL_PATH}", run_id=run.run_id
            )
            card = card.model_copy(update={"version": int(created.version)})
            run.log_text(card.model_dump_json(indent=2), f"{MODEL_PATH}/metadata.json")
            self.client.set_model_version_tag(self.name, created.version, SHA256_TAG, card.sha256)
        return card

    def _run_of(self, version: int) -> str:
        """The id of the run that holds a version's artifacts."""
        try:
            found = self.client.get_model_version(self.name, str(version))
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            found = None
        if found is None or SHA256_TAG not in found.tags or not found.run_id:
            raise ModelNotFoundError(f"model {self.name!r} has no version {version} in {self.uri}")
        return found.run_id

    def _artifact(self, version: int, filename: str) -> tuple[str, bytes]:
        """A version's artifact: where it is and its bytes (CorruptVersionError if missing)."""
        run_id = self._run_of(version)
        where = f"runs:/{run_id}/{MODEL_PATH}/{filename}"
        with tempfile.TemporaryDirectory() as directory:
            try:
                path = self.client.download_artifacts(run_id, f"{MODEL_PATH}/{filename}", directory)
                return where, Path(path).read_bytes()
            except (MlflowException, OSError) as error:
                raise CorruptVersionError(
                    f"model {self.name!r} v{version}: {where} is unreadable"
                    f" ({shorten(str(error))}); re-register or remove that version"
                ) from None

    def card(self, version: int) -> ModelCard:
        return self._parse_card(version, *self._artifact(version, "metadata.json"))

    def aliases(self) -> dict[str, int]:
        try:
            found = self.client.get_registered_model(self.name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return {}
        return {alias: int(version) for alias, version in found.aliases.items()}

    def set_alias(self, alias: str, version: int) -> None:
        self.card(version)
        self.client.set_registered_model_alias(self.name, alias, str(version))

    def _payload(self, card: ModelCard) -> bytes:
        return self._artifact(card.version, "model.skops")[1]


def open_registry(settings: Settings) -> Registry:
    """The registry of the environment's model: the one every job and the service use."""
    return MlflowRegistry(settings.tracking, settings.model.name)
{%- else %}


def open_registry(settings: Settings) -> Registry:
    """The registry of the environment's model: the one every job and the service use."""
    return Registry(settings.storage.registry_uri, settings.model.name)
{%- endif %}
