"""Decorators for workflow steps: log each call and its duration.

Contract checks use Pandera's own decorators (`pandera.check_output`) in the steps.
"""

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import pandas as pd

from .logs import get_logger

P = ParamSpec("P")
R = TypeVar("R")

logger = get_logger(__name__)


def summarize(value: object, width: int = 80) -> str:
    """A short, log-friendly description of a value (frames by shape, not content)."""
    if isinstance(value, pd.DataFrame):
        return f"DataFrame(rows={len(value)}, columns={value.shape[1]})"
    if isinstance(value, pd.Series):
        return f"Series(name={value.name!r}, rows={len(value)})"
    text = repr(value)
    return text if len(text) <= width else f"{text[: width - 3]}..."


def log_call(func: Callable[P, R]) -> Callable[P, R]:
    """Log the call with its arguments summarised, and a summary of the result."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        arguments = [summarize(arg) for arg in args]
        arguments += [f"{key}={summarize(arg)}" for key, arg in kwargs.items()]
        logger.info("step.call", step=func.__qualname__, args=arguments)
        result = func(*args, **kwargs)
        logger.info("step.result", step=func.__qualname__, result=summarize(result))
        return result

    return wrapper


def log_time(func: Callable[P, R]) -> Callable[P, R]:
    """Log how long the call took, whether it succeeded or raised."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        start = time.perf_counter()
        status = "error"
        try:
            result = func(*args, **kwargs)
            status = "ok"
            return result
        finally:
            duration_ms = round((time.perf_counter() - start) * 1000, 3)
            logger.info("step.time", step=func.__qualname__, status=status, duration_ms=duration_ms)

    return wrapper
