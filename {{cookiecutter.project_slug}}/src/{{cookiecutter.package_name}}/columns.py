"""Data held as one NumPy array per column: what the cleaning and feature rules work on.

Batch frames and the service's few records both go through the same rules; a request's
records become arrays far faster than they become a DataFrame.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

Columns = dict[str, npt.NDArray[Any]]


def map_text(values: npt.NDArray[Any], rule: Callable[[str], object]) -> npt.NDArray[Any]:
    """`rule` applied to each distinct text value once; missing values stay missing (None)."""
    codes, distinct = pd.factorize(values)
    mapped = np.array([*(rule(str(value)) for value in distinct), None], dtype=object)
    return mapped[codes]  # code -1 (missing) takes the final None


def trimmed(text: str) -> str | None:
    """Text without surrounding spaces; empty text is missing."""
    return text.strip() or None
