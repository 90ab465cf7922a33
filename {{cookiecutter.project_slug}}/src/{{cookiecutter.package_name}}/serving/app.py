"""The FastAPI application: predictions, history, feedback, health and metrics.

`create_app(settings)` loads the environment's model from the registry and opens the
prediction store when the app starts, and flushes the prediction history when it
stops. Single records are micro-batched; each prediction is stored before it is
answered (group commit), or in the background when `store.history_mode` says so.
"""

import asyncio
import gc
import tempfile
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Annotated, cast

import uvicorn
from fastapi import (
    APIRouter,
    Body,
    Depends,
    FastAPI,
    HTTPException,
    Path,
    Query,
    Request,
    UploadFile,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from threadpoolctl import threadpool_limits

from ..contracts import ENTITY_ID_PATTERN, ID_COLUMN
from ..logs import get_logger
from ..registry import open_registry
from ..settings import Settings
from ..store import (
    FeedbackConflictError,
    PredictionRow,
    Record,
    Store,
    StoreError,
    StoreHealth,
    UnknownPredictionError,
    as_utc,
    describe_error,
    new_prediction_id,
    utc_now,
)
from .auth import (
    OPEN_PATHS,
    AuthenticationMiddleware,
    client_identity,
    load_keys,
    require,
)
from .batcher import MicroBatcher
from .errors import ErrorMessage, ResponseSpec, ValidationErrors, request_invalid, responses
from .history import HistoryFullError, HistoryWriter
from .limits import BodyLimit, BodyLimitMiddleware, RateLimitMiddleware, TokenBuckets
from .metrics import Metrics, MetricsMiddleware
from .predictor import (
    ContractViolationError,
    OutputFormat,
    Predictor,
    Scored,
    entity_of,
    feature_contract_violation,
)
from .schemas import (
    ContractViolation,
    DateTime,
    EntityPrediction,
    Feedback,
    FeedbackAccepted,
    FeedbackConflict,
    HistoryPage,
    ModelInfo,
    Prediction,
    PredictResponse,
    RecordOrList,
    Status,
    history_item,
    prediction_fields,
)

logger = get_logger(__name__)

UPLOAD_PATH = "/predict-batch"
# Who may call what (see auth.py); /health, /ready and /metrics are open.
PREDICT = [require("predict")]
ADMIN = [require("admin")]
SPOOL_BYTES = 8 * 1024 * 1024
# How long a health check waits for the store before calling it unreachable.
STORE_CHECK_SECONDS = 1.0
RETRY_AFTER_SECONDS = "1"


def exempt_loaded_objects_from_gc() -> None:
    """Keep the garbage collector off what is loaded once: libraries, settings, the model.

    They are hundreds of thousands of objects that live as long as the process; each
    full collection would walk them all (tens of milliseconds, every second or so
    under load), a cost every request pays in latency. Frozen, they stay out of it.
    """
    gc.collect()
    gc.freeze()


def single_threaded_native_code() -> None:
    """Keep OpenMP/BLAS in the calling thread (the event loop, the model thread) to one.

    Micro-batches are small: parallel kernels gain little on them, and their idle
    worker threads spin on the cores the event loop needs to answer requests.
    """
    threadpool_limits(limits=1)


@dataclass
class Service:
    settings: Settings
    predictor: Predictor
    store: Store
    model_thread: ThreadPoolExecutor
    batcher: MicroBatcher[Record, Scored]
    history: HistoryWriter
    metrics: Metrics
    store_check: asyncio.Task[StoreHealth] | None = field(default=None, init=False)

    @classmethod
    def open(cls, settings: Settings, metrics: Metrics) -> "Service":
        registry = open_registry(settings)
        model, card = registry.load(settings.env)
        predictor = Predictor(model, card, settings.model.threshold)
        store = Store(settings.store.url)
        metrics.model.info({"name": card.name, "version": predictor.version})
        model_thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="model", initializer=single_threaded_native_code
        )
        return cls(
            settings=settings,
            predictor=predictor,
            store=store,
            model_thread=model_thread,
            batcher=MicroBatcher(
                metrics.observe_batches(predictor.score_records),
                max_batch_size=settings.serving.max_batch_size,
                max_wait=settings.serving.max_wait_ms / 1000,
            ),
            history=HistoryWriter(
                store,
                mode=settings.store.history_mode,
                flush_interval=settings.store.flush_interval_seconds,
                flush_rows=settings.store.flush_rows,
                max_pending=settings.store.history_max_pending,
                metrics=metrics,
            ),
            metrics=metrics,
        )

    async def log(self, rows: list[PredictionRow], source: str) -> None:
        """Hand the rows to the history writer (durable mode: return once stored)."""
        try:
            await self.history.add(rows)
        except HistoryFullError as error:
            self.metrics.history_refused.inc()
            raise HTTPException(
                503, str(error), headers={"Retry-After": RETRY_AFTER_SECONDS}
            ) from None
        self.metrics.count_predictions([row.prediction for row in rows], source)

    @property
    def ready(self) -> dict[str, bool]:
        """What answering /predict needs of this process (the store is checked apart)."""
        return {
            "model": True,
            "batcher": self.batcher.running,
            "history": self.history.running,
        }

    async def store_health(self) -> StoreHealth:
        """The store's health, within STORE_CHECK_SECONDS; also sets the store_up gauge.

        Callers arriving while a check is under way share its answer: a burst of
        probes costs the store one check, not one each.
        """
        if self.store_check is None or self.store_check.done():
            self.store_check = asyncio.create_task(self._check_store(), name="store-check")
        # Shielded: a caller that goes away does not cancel the others' check.
        return await asyncio.shield(self.store_check)

    async def _check_store(self) -> StoreHealth:
        try:
            health = await asyncio.wait_for(
                asyncio.to_thread(self.store.health), STORE_CHECK_SECONDS
            )
        except TimeoutError:
            health = StoreHealth(ok=False, reason=f"no answer within {STORE_CHECK_SECONDS} s")
        self.metrics.store_up.set(1 if health.ok else 0)
        if not health.ok:
            logger.warning("store.unhealthy", reason=health.reason)
        return health


async def get_service(request: Request) -> Service:
    """The running service (a coroutine: FastAPI calls plain functions in a worker thread)."""
    return cast(Service, request.app.state.service)


ServiceDependency = Annotated[Service, Depends(get_service)]
router = APIRouter()


@router.get("/health", tags=["operations"])
async def health(service: ServiceDependency) -> Status:
    """The process is alive (always 200); `detail` says whether the store is healthy.

    `store`: the store answers and holds its tables (checked within a second);
    `history_writes_ok`: the last history commit succeeded.
    """
    store = await service.store_health()
    return Status(
        status="ok",
        detail={"store": store.ok, "history_writes_ok": service.history.last_write_ok},
    )


@router.get(
    "/ready", tags=["operations"], response_model=Status, responses={503: {"model": Status}}
)
async def ready(service: ServiceDependency) -> JSONResponse:
    """This process can answer /predict: the model is loaded, the batcher and writer run.

    The prediction store is not part of readiness: an outage of the shared database
    would take every replica out of the load balancer at once, turning a clear 503
    with Retry-After into refused connections. See GET /health and the store_up metric.
    """
    detail = service.ready
    ok = all(detail.values())
    status = Status(status="ready" if ok else "unavailable", detail=detail)
    return JSONResponse(status.model_dump(), status_code=200 if ok else 503)


@router.get("/model", tags=["operations"], dependencies=ADMIN, responses=responses(401, 403, 429))
async def model_info(service: ServiceDependency) -> ModelInfo:
    """The served model: name, version, metrics and training time."""
    card = service.predictor.card
    return ModelInfo(
        name=card.name,
        version=service.predictor.version,
        alias=service.settings.env,
        metrics=card.metrics,
        trained_at=card.created_at,
        code_version=card.code_version,
    )


@router.post(
    "/predict",
    tags=["predictions"],
    dependencies=PREDICT,
    responses=responses(400, 401, 403, 413, 429, 503),
)
async def predict(
    body: Annotated[RecordOrList, Body()], service: ServiceDependency
) -> PredictResponse:
    """Score one record or a list of them."""
    records = body if isinstance(body, list) else [body]
    limit = service.settings.serving.max_records
    if len(records) > limit:
        raise HTTPException(413, f"{len(records)} records; at most {limit} per request")
    values = [record.model_dump() for record in records]
    scored = await service.batcher.submit(values)
    created_at = utc_now()
    rows = [
        PredictionRow(
            id=new_prediction_id(),
            created_at=created_at,
            entity_id=entity_of(value),
            model_version=service.predictor.version,
            prediction=result.prediction,
            probability=result.probability,
            source="request",
            features=result.features,
        )
        for value, result in zip(values, scored, strict=True)
    ]
    await service.log(rows, "request")
    return PredictResponse(
        predictions=[Prediction.model_validate(prediction_fields(row)) for row in rows]
    )


def _iterate(handle: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(size):
        yield chunk


@router.post(
    UPLOAD_PATH,
    tags=["predictions"],
    response_class=StreamingResponse,
    dependencies=PREDICT,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}}},
        **responses(400, 401, 403, 413, 429, 503),
        422: {
            "model": ContractViolation | ValidationErrors,
            "description": "The file breaks the data contract (failing rows and checks),"
            " or the request is malformed",
        },
    },
)
async def predict_batch(
    file: UploadFile,
    service: ServiceDependency,
    output: Annotated[OutputFormat, Query(alias="format")] = "csv",
) -> Response:
    """Score an uploaded CSV of records in chunks; answer CSV or JSON."""
    target = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (closed by the response)
    created_at = utc_now()

    def run() -> int:
        with service.store.transaction() as connection:

            def log(rows: list[PredictionRow]) -> None:
                service.store.log_predictions(rows, connection)
                service.metrics.count_predictions([row.prediction for row in rows], "upload")

            return service.predictor.score_csv(
                file.file, target, output, service.settings.data.chunk_rows, created_at, log
            )

    try:
        rows = await asyncio.to_thread(run)
    except ContractViolationError as error:
        target.close()
        return JSONResponse({"detail": str(error), "failures": error.failures}, status_code=422)
    except BaseException:
        target.close()
        raise
    media_type = "text/csv" if output == "csv" else "application/json"
    return StreamingResponse(
        _iterate(target),
        media_type=media_type,
        headers={"X-Rows": str(rows)},
        background=BackgroundTask(target.close),
    )


NO_ID_COLUMN = (
    "the table has no id column, so no entity can be looked up: re-run adopt with --id"
    " <column> to name one"
)
ENTITY_RESPONSES: ResponseSpec = {
    404: {
        "model": ErrorMessage,
        "description": "The table has no id column (re-run adopt with --id)",
    }
}


@router.get(
    "/predict/{entity_id}",
    tags=["predictions"],
    dependencies=PREDICT,
    responses=responses(401, 403, 429, 503) | (ENTITY_RESPONSES if ID_COLUMN is None else {}),
)
async def predict_entity(
    entity_id: Annotated[str, Path(pattern=ENTITY_ID_PATTERN)], service: ServiceDependency
) -> EntityPrediction:
    """Predict for a known entity by id: fresh online features, else batch, else baseline.

    Stored features that break the served model's feature contract (written before
    the model needed a new column, or with the wrong type) are not scored: the answer
    falls back to the next source and `reason` says why. The baseline is the model
    card's (majority class and its share, or mean target). A table without an id
    column answers 404.
    """
    if ID_COLUMN is None:
        raise HTTPException(404, NO_ID_COLUMN)
    settings = service.settings.serving
    now = utc_now()
    stored = await asyncio.to_thread(service.store.online_features, entity_id)
    max_age = timedelta(hours=settings.feature_max_age_hours)
    reason = None
    if stored is not None and now - stored.computed_at <= max_age:
        reason = feature_contract_violation(stored.features, service.predictor.card.features)
        if reason is not None:
            service.metrics.online_features_rejected.inc()
            logger.warning("online_features.rejected", entity_id=entity_id, reason=reason)
    if stored is not None and now - stored.computed_at <= max_age and reason is None:
        loop = asyncio.get_running_loop()
        (result,) = await loop.run_in_executor(
            service.model_thread, service.predictor.score_features, [stored.features]
        )
        prediction, probability = result.prediction, result.probability
        version, source, as_of = service.predictor.version, "online-features", stored.computed_at
    elif (batch := await asyncio.to_thread(service.store.batch_prediction, entity_id)) is not None:
        prediction, probability = batch.prediction, batch.probability
        version, source, as_of = batch.model_version, "batch", batch.scored_at
    else:  # the training target's majority class and its share, or its mean
        baseline = service.predictor.card.baseline
        prediction, probability = baseline.prediction, baseline.probability
        version, source, as_of = "baseline", "baseline", None
    row = PredictionRow(
        id=new_prediction_id(),
        created_at=now,
        entity_id=entity_id,
        model_version=version,
        prediction=prediction,
        probability=probability,
        source=source,
    )
    await service.log([row], source)
    return EntityPrediction.model_validate(
        prediction_fields(row) | {"source": source, "as_of": as_of, "reason": reason}
    )


@router.get(
    "/history", tags=["history"], dependencies=ADMIN, responses=responses(401, 403, 429, 503)
)
async def history(
    service: ServiceDependency,
    start: Annotated[DateTime | None, Query(description="From this time (inclusive)")] = None,
    end: Annotated[DateTime | None, Query(description="Until this time (exclusive)")] = None,
    entity_id: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
    model_version: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HistoryPage:
    """Past predictions, newest first."""
    await service.history.flush()
    rows, total = await asyncio.to_thread(
        lambda: service.store.history(
            start=as_utc(start) if start else None,
            end=as_utc(end) if end else None,
            entity_id=entity_id,
            model_version=model_version,
            limit=limit,
            offset=offset,
        )
    )
    items = [history_item(row) for row in rows]
    following = offset + len(items)
    return HistoryPage(
        items=items,
        total=total,
        limit=limit,
        offset=offset,
        next_offset=following if following < total else None,
    )


@router.post(
    "/feedback",
    tags=["history"],
    response_model=FeedbackAccepted,
    dependencies=ADMIN,
    responses=responses(400, 401, 403, 404, 413, 429, 503)
    | {409: {"model": FeedbackConflict, "description": "A different outcome is already stored"}},
)
async def feedback(body: Feedback, service: ServiceDependency) -> FeedbackAccepted | JSONResponse:
    """Record the true outcome of a prediction (monitoring compares them).

    The first outcome is kept: repeating it answers 200 again (safe to retry); a
    different outcome answers 409 with the stored one and changes nothing.
    """
    await service.history.flush()
    try:
        await asyncio.to_thread(service.store.add_feedback, body.prediction_id, body.outcome)
    except UnknownPredictionError as error:
        raise HTTPException(404, str(error)) from None
    except FeedbackConflictError as error:
        conflict = FeedbackConflict(
            detail=str(error), prediction_id=body.prediction_id, outcome=error.stored
        )
        return JSONResponse(conflict.model_dump(), status_code=409)
    return FeedbackAccepted(prediction_id=body.prediction_id, outcome=body.outcome)


@router.get("/metrics", tags=["operations"], response_class=Response)
async def metrics(service: ServiceDependency) -> Response:
    """Prometheus metrics (the store is checked for store_up on each scrape)."""
    await service.store_health()
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def store_unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.error("store.unavailable", path=request.url.path, error=describe_error(error))
    return JSONResponse(
        {"detail": "the prediction store is unavailable"},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def create_app(settings: Settings) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await asyncio.to_thread(Service.open, settings, metrics)
        service.batcher.start()
        service.history.start()
        app.state.service = service
        single_threaded_native_code()  # the model runs in this thread (the event loop's)
        exempt_loaded_objects_from_gc()
        logger.info("serve.ready", env=settings.env, model_version=service.predictor.version)
        try:
            yield
        finally:
            await service.batcher.stop()
            await service.history.stop()
            service.model_thread.shutdown()
            service.store.close()
            gc.unfreeze()
            logger.info("serve.stopped")

    app = FastAPI(
        title=f"{settings.model.name} ({settings.env})",
        description="Predictions, prediction history and feedback.",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(StoreError, store_unavailable)
    app.add_exception_handler(SQLAlchemyError, store_unavailable)
    serving = settings.serving
    app.add_middleware(
        BodyLimitMiddleware,
        default=BodyLimit.megabytes(serving.max_body_mb, "serving.max_body_mb"),
        paths={UPLOAD_PATH: BodyLimit.megabytes(serving.max_upload_mb, "serving.max_upload_mb")},
    )
    keys = load_keys(settings)
    app.state.api_keys = keys
    app.add_middleware(AuthenticationMiddleware, keys=keys, open_paths=OPEN_PATHS)
    if serving.rate_limit_per_second is not None:
        buckets = TokenBuckets(serving.rate_limit_per_second, serving.rate_limit_burst)
        app.add_middleware(
            RateLimitMiddleware, buckets=buckets, identify=client_identity(keys), exempt=OPEN_PATHS
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the service with uvicorn until interrupted (history is flushed on the way out).

    The socket is bound first, so a taken port fails with ServeError before the
    model loads. Idle keep-alive connections stay open longer than a load balancer's
    usual idle timeout (60 s), so the balancer never reuses a connection being closed.
    """
    from ..runtime import ServeError, listen

    listener = listen(host, port)
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, access_log=False, timeout_keep_alive=75
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[listener])
    finally:
        listener.close()
    if not server.started:
        raise ServeError(f"the service on {host}:{port} did not start; the log above says why")
