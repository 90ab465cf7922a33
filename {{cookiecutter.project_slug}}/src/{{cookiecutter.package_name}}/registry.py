"""A versioned model store on any fsspec URI.

Layout under the registry URI:
    <name>/v<N>/model.skops       the serialised model
    <name>/v<N>/metadata.json     metrics, data fingerprint, code version, sha256, ...
    <name>/aliases.json           alias (one per environment) -> version
A version exists once its metadata is written (last, atomically).
"""

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from importlib import metadata

from pydantic import BaseModel

from . import io
from .model import GradientBoostingModel, Model


class RegistryError(Exception):
    """Base class of registry failures."""


class ModelNotFoundError(RegistryError):
    """No such version or alias."""


class IntegrityError(RegistryError):
    """A stored artifact does not match its recorded sha256."""


class ModelCard(BaseModel):
    name: str
    version: int
    created_at: datetime
    metrics: dict[str, float]
    data_fingerprint: str
    code_version: str
    sha256: str
    params: dict[str, float | int | str]
    features: list[str]


def code_version() -> str:
    """Package version plus the git commit (GIT_COMMIT, or asked from git)."""
    version = metadata.version("{{ cookiecutter.project_slug }}")
    commit = os.environ.get("GIT_COMMIT", "")
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = ""
    return f"{version}+{commit[:12]}" if commit else version


class Registry:
    def __init__(self, uri: str, name: str) -> None:
        self.uri = uri
        self.name = name
        self.root = io.join(uri, name)

    def _version_uri(self, version: int, filename: str) -> str:
        return io.join(self.root, f"v{version}", filename)

    def versions(self) -> list[int]:
        fs, path = io.resolve(self.root)
        if not fs.exists(path):
            return []
        found = []
        for entry in fs.ls(path, detail=False):
            base = str(entry).rstrip("/").rsplit("/", 1)[-1]
            complete = fs.exists(f"{str(entry).rstrip('/')}/metadata.json")
            if base.startswith("v") and base[1:].isdigit() and complete:
                found.append(int(base[1:]))
        return sorted(found)

    def register(
        self,
        model: Model,
        metrics: dict[str, float],
        data_fingerprint: str,
        params: dict[str, float | int | str],
    ) -> ModelCard:
        version = max(self.versions(), default=0) + 1
        payload = model.save()
        card = ModelCard(
            name=self.name,
            version=version,
            created_at=datetime.now(UTC),
            metrics=metrics,
            data_fingerprint=data_fingerprint,
            code_version=code_version(),
            sha256=hashlib.sha256(payload).hexdigest(),
            params=params,
            features=model.feature_names,
        )
        io.write_bytes(self._version_uri(version, "model.skops"), payload)
        io.write_text(self._version_uri(version, "metadata.json"), card.model_dump_json(indent=2))
        return card

    def card(self, version: int) -> ModelCard:
        uri = self._version_uri(version, "metadata.json")
        if not io.exists(uri):
            raise ModelNotFoundError(f"model {self.name!r} has no version {version} in {self.uri}")
        return ModelCard.model_validate_json(io.read_text(uri))

    def aliases(self) -> dict[str, int]:
        uri = io.join(self.root, "aliases.json")
        if not io.exists(uri):
            return {}
        loaded: dict[str, int] = json.loads(io.read_text(uri))
        return loaded

    def set_alias(self, alias: str, version: int) -> None:
        self.card(version)
        aliases = self.aliases() | {alias: version}
        io.write_text(io.join(self.root, "aliases.json"), json.dumps(aliases, indent=2))

    def resolve(self, reference: str) -> ModelCard:
        """Find a version by alias (e.g. an environment), `v<N>` or `latest`."""
        if reference == "latest":
            versions = self.versions()
            if not versions:
                raise ModelNotFoundError(f"no model {self.name!r} registered in {self.uri}")
            return self.card(versions[-1])
        if reference.startswith("v") and reference[1:].isdigit():
            return self.card(int(reference[1:]))
        aliases = self.aliases()
        if reference not in aliases:
            raise ModelNotFoundError(
                f"no model {self.name!r} with alias {reference!r} in {self.uri}"
                f" (aliases: {sorted(aliases) or 'none'}); train one first"
            )
        return self.card(aliases[reference])

    def load(self, reference: str) -> tuple[Model, ModelCard]:
        """Load a model after checking its bytes against the recorded sha256."""
        card = self.resolve(reference)
        payload = io.read_bytes(self._version_uri(card.version, "model.skops"))
        digest = hashlib.sha256(payload).hexdigest()
        if digest != card.sha256:
            raise IntegrityError(
                f"model {self.name!r} v{card.version}: sha256 {digest} does not match "
                f"the recorded {card.sha256}; refusing to load a modified artifact"
            )
        return GradientBoostingModel.load(payload), card
