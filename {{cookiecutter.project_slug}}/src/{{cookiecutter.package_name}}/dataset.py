{%- set target = {
  "binary": "churned",
  "multiclass": "renewal",
  "regression": "revenue_next_year",
}[cookiecutter.task] -%}
"""The table this project learns from: its columns, its target and its task.

`{{ cookiecutter.package_name }} adopt` writes this module from a sample of your table:
review it like any other change. Every other layer (API models, store columns,
monitor, the data generator, the tests) follows it; cleaning rules and engineered
features live in `features.py`.
"""

from typing import Final, Literal

import pandera.pandas as pa
from pandera.typing import Series

TASK: Final[Literal["binary", "multiclass", "regression"]] = "{{ cookiecutter.task }}"
ID_COLUMN: Final[str | None] = "customer_id"
TARGET_COLUMN: Final[str] = "{{ target }}"
SAMPLE_URI: Final[str] = "data/sample/customers.csv"
MODEL_NAME: Final[str] = "{{ {"binary": "churn-classifier", "multiclass": "renewal-classifier", "regression": "revenue-regressor"}[cookiecutter.task] }}"


class RawSchema(pa.DataFrameModel):
    """Records as they arrive: types, ranges and categories, before any cleaning."""

    customer_id: Series[str] = pa.Field(str_matches=r"^[A-Za-z0-9_.-]{1,64}$")
    tenure_months: Series[int] = pa.Field(ge=0, le=1200)
    monthly_charges: Series[float] = pa.Field(ge=0, le=10_000, nullable=True)
    total_charges: Series[float] = pa.Field(ge=0, nullable=True)
    contract: Series[str] = pa.Field(str_length={"min_value": 1})
    payment_method: Series[str] = pa.Field(nullable=True)
    internet_service: Series[str] = pa.Field(nullable=True)
    support_calls: Series[int] = pa.Field(ge=0, le=1000)
{%- if cookiecutter.task == "binary" %}
    churned: Series[int] | None = pa.Field(isin=[0, 1])
{%- elif cookiecutter.task == "multiclass" %}
    renewal: Series[str] | None = pa.Field(isin=["churned", "downgraded", "renewed"])
{%- else %}
    revenue_next_year: Series[float] | None = pa.Field(ge=0, le=100_000)
{%- endif %}

    class Config:
        coerce = True
        strict = "filter"
