"""API keys: who may call the service, and which routes.

Two scopes. `predict`: POST /predict, POST /predict-batch, GET /predict/{entity_id}.
`admin`: GET /history, POST /feedback, GET /model, and everything `predict` may do.
Callers send `Authorization: Bearer <key>`. Keys (comma-separated) come from
    {{ cookiecutter.package_name | upper }}_AUTH__PREDICT_KEYS
    {{ cookiecutter.package_name | upper }}_AUTH__ADMIN_KEYS
and from files of the same names in `auth.keys_dir` (a mounted secret). They are
compared by their SHA-256 digests in constant time. Probes, metrics and the API docs
stay open.
"""

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Request, Security, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from ..logs import get_logger
from ..settings import ENV_PREFIX, Settings, SettingsError

logger = get_logger(__name__)

Scope = Literal["predict", "admin"]
# What a key of each scope may do.
GRANTS: dict[Scope, frozenset[Scope]] = {
    "predict": frozenset({"predict"}),
    "admin": frozenset({"predict", "admin"}),
}
# Open to anyone: liveness and readiness probes, Prometheus, the API docs (no data).
OPEN_PATHS = frozenset(
    {"/health", "/ready", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
MIN_KEY_LENGTH = 16
KEY_PATTERN = re.compile(r"[\x21-\x7e]+")  # printable ASCII: what a header can carry

bearer = HTTPBearer(
    auto_error=False,
    description="An API key: `Authorization: Bearer <key>`. Predict keys may call the "
    "prediction routes; admin keys every route.",
)


def key_variable(scope: Scope) -> str:
    """The environment variable (and secret file name) holding the keys of `scope`."""
    return f"{ENV_PREFIX}AUTH__{scope.upper()}_KEYS"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True)
class ApiKeys:
    """The digests of the configured keys; `required` is False when auth is off."""

    required: bool
    digests: tuple[tuple[bytes, Scope], ...] = ()

    def scope_of(self, key: str | None) -> Scope | None:
        """The scope of `key`, or None if it is not a configured key (constant time)."""
        if key is None:
            return None
        digest = _digest(key)
        found: Scope | None = None
        for known, scope in self.digests:  # no early exit: every key is compared
            if hmac.compare_digest(digest, known) and found != "admin":
                found = scope
        return found

    def caller(self, headers: Headers) -> str | None:
        """A short, stable name of the valid key in `headers`, or None."""
        key = bearer_key(headers.get("authorization"))
        if key is None or self.scope_of(key) is None:
            return None
        return "key:" + _digest(key).hex()[:16]


def bearer_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, if there is one."""
    scheme, key = get_authorization_scheme_param(authorization)
    return key if scheme.lower() == "bearer" and key else None


def _split(text: str) -> list[str]:
    return [key for key in re.split(r"[,\s]+", text) if key]


def _configured(settings: Settings, scope: Scope) -> list[str]:
    variable = key_variable(scope)
    secret = settings.auth.admin_keys if scope == "admin" else settings.auth.predict_keys
    keys = _split(secret.get_secret_value())
    if settings.auth.keys_dir is not None:
        folder = Path(settings.auth.keys_dir)
        if not folder.is_dir():
            raise SettingsError(f"auth.keys_dir: {folder} is not a directory")
        if (folder / variable).is_file():
            keys += _split((folder / variable).read_text(encoding="utf-8"))
    for key in keys:
        if len(key) < MIN_KEY_LENGTH or not KEY_PATTERN.fullmatch(key):
            raise SettingsError(
                f"{variable}: a key of {len(key)} characters; use at least {MIN_KEY_LENGTH}"
                " printable ASCII characters, e.g. from `openssl rand -hex 32`"
            )
    return keys


def load_keys(settings: Settings) -> ApiKeys:
    """The service's keys; raise SettingsError if auth is on and no key is set."""
    keys: dict[Scope, list[str]] = {
        "predict": _configured(settings, "predict"),
        "admin": _configured(settings, "admin"),
    }
    any_key = any(keys.values())
    enabled = settings.auth.enabled
    required = enabled if enabled is not None else settings.env != "local" or any_key
    if required and not any_key:
        raise SettingsError(
            f"environment {settings.env!r} requires API keys and none is set: set"
            f" {key_variable('predict')} and/or {key_variable('admin')} (comma-separated keys),"
            f" or files of those names in auth.keys_dir"
            f" ({ENV_PREFIX}AUTH__ENABLED=false turns authentication off)"
        )
    if not required and settings.env != "local":
        logger.warning("auth.disabled", env=settings.env)
    digests = tuple((_digest(key), scope) for scope in keys for key in keys[scope])
    return ApiKeys(required=required, digests=digests if required else ())


def unauthorized(key: str | None) -> HTTPException:
    """401 for a missing or unknown key (the answer does not say which keys exist)."""
    detail = (
        "unknown API key"
        if key is not None
        else "missing API key: send the header `Authorization: Bearer <key>`"
    )
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require(scope: Scope) -> Any:
    """A route dependency: the caller's key must grant `scope` (401 without, 403 short)."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        keys: ApiKeys = request.app.state.api_keys
        if not keys.required:
            return
        key = credentials.credentials if credentials is not None else None
        granted = keys.scope_of(key)
        if granted is None:
            raise unauthorized(key)
        if scope not in GRANTS[granted]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this API key has the {granted} scope, not {scope}"
            )

    return Security(check)


class AuthenticationMiddleware:
    """Answer 401 to a request without a valid key before its body is read.

    Which scope a route needs is checked by its `require(...)` dependency; this layer
    only keeps strangers from making the service read, spool and parse their bodies.
    """

    def __init__(self, app: ASGIApp, keys: ApiKeys, open_paths: Iterable[str]) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.keys.required and scope["path"] not in self.open_paths:
            key = bearer_key(Headers(scope=scope).get("authorization"))
            if self.keys.scope_of(key) is None:
                error = unauthorized(key)
                response = JSONResponse(
                    {"detail": error.detail}, status_code=error.status_code, headers=error.headers
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def client_identity(keys: ApiKeys) -> Callable[[AsgiScope], str]:
    """Name a caller for rate limiting: its valid API key, else its network address."""

    def identify(scope: AsgiScope) -> str:
        caller = keys.caller(Headers(scope=scope))
        if caller is not None:
            return caller
        client = scope.get("client")
        return f"address:{client[0] if client else 'unknown'}"

    return identify
