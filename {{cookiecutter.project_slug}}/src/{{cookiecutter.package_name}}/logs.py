"""Structured logging: readable lines on a laptop, JSON lines everywhere else."""

import logging
import sys
from typing import Literal

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

# Longest echo of a user-supplied value in logs, error messages and API answers.
ECHO_LIMIT = 80
# Items of a list or mapping logged before the rest is summarised as a count.
ECHO_ITEMS = 20
# Traceback lines carry file paths; they are cut at a wider limit.
TRACEBACK_LINE_LIMIT = 4 * ECHO_LIMIT
# Keys the logging setup writes itself; their values are never cut.
OWN_KEYS = frozenset({"event", "level", "timestamp", "logger"})


def shorten(value: object, limit: int = ECHO_LIMIT) -> str:
    """`value` as text (strings as they are, else repr), cut to `limit` characters."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"


def _short(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        items: list[object] = [_short(item) for item in value[:ECHO_ITEMS]]
        if len(value) > ECHO_ITEMS:
            items.append(f"… ({len(value)} items)")
        return items
    if isinstance(value, dict):
        shown = dict(list(value.items())[:ECHO_ITEMS])
        entries: dict[str, object] = {shorten(key): _short(item) for key, item in shown.items()}
        if len(value) > ECHO_ITEMS:
            entries["…"] = f"{len(value)} entries"
        return entries
    return shorten(value)


def shorten_values(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: cut every logged value to `ECHO_LIMIT` characters."""
    for key, value in event_dict.items():
        if key == "exception" and isinstance(value, str):
            lines = value.splitlines()
            event_dict[key] = "\n".join(shorten(line, TRACEBACK_LINE_LIMIT) for line in lines)
        elif key not in OWN_KEYS:
            event_dict[key] = _short(value)
    return event_dict


class OneLineFormatter(logging.Formatter):
    """Records of libraries (cloud SDKs, HTTP clients) as one short line, no traceback."""

    def format(self, record: logging.LogRecord) -> str:
        message = shorten(record.getMessage().strip().partition("\n")[0], TRACEBACK_LINE_LIMIT)
        return f"{record.levelname.lower()} {record.name}: {message}"


class StderrHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"{self.format(record)}\n")
        except Exception:
            self.handleError(record)


def route_library_logs() -> None:
    """Send the standard library's log records to stderr as one line each (once)."""
    root = logging.getLogger()
    if not any(isinstance(handler, StderrHandler) for handler in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(OneLineFormatter())
        root.addHandler(handler)


def configure_logging(level: str = "INFO", fmt: Literal["console", "json"] = "json") -> None:
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            shorten_values,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    route_library_logs()


def get_logger(name: str) -> FilteringBoundLogger:
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger
