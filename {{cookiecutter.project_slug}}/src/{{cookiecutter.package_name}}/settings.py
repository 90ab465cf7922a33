"""Typed settings: configs/<env>.yaml, overridden by environment variables.

Environment variable names are the prefix below plus the key path joined by `__`, e.g.
    {{ cookiecutter.package_name | upper }}_TRAINING__GATE=0.8
"""

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, {% if cookiecutter.serving == "fastapi" %}SecretStr, {% endif %}ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from .dataset import MODEL_NAME, TASK
from .logs import shorten

ENV_PREFIX = "{{ cookiecutter.package_name | upper }}_"
CONFIG_DIR_VARIABLE = f"{ENV_PREFIX}CONFIG_DIR"


class Section(BaseModel):
    """A block of settings: unknown keys are errors, values are fixed once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSettings(Section):
    """Where the table comes from and where batch predictions go (any fsspec URI)."""

    train_uri: str = Field(min_length=1, description="Labelled rows used for training.")
    predict_input_uri: str = Field(min_length=1, description="Rows to score in batch.")
    predictions_uri: str = Field(min_length=1, description="Where batch predictions go.")
    chunk_rows: int = Field(default=50_000, gt=0, description="Rows per batch-scoring chunk.")


class ModelSettings(Section):
    """The registered model's name and the estimator's hyperparameters."""

    name: str = Field(
        default=MODEL_NAME,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Registry name: lowercase letters, digits and hyphens.",
    )
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    max_iter: int = Field(default=150, gt=0, description="Boosting iterations.")
    max_leaf_nodes: int = Field(default=15, ge=2)
    threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Binary task: P(positive class) to predict it."
    )


Metric = Literal["roc_auc", "accuracy", "f1", "f1_macro", "r2", "relative_rmse"]
# The metrics each task can gate on; the first is the default.
TASK_METRICS: dict[str, tuple[Metric, ...]] = {
    "binary": ("roc_auc", "accuracy", "f1"),
    "multiclass": ("f1_macro", "accuracy"),
    "regression": ("r2", "relative_rmse"),
}
# The gate of each metric when `training.gate` is null.
DEFAULT_GATES: dict[Metric, float] = {
    "roc_auc": 0.7,
    "accuracy": 0.7,
    "f1": 0.5,
    "f1_macro": 0.5,
    "r2": 0.3,
    "relative_rmse": 0.8,
}
# Metrics where lower is better: their gate is a maximum.
LOWER_IS_BETTER: frozenset[Metric] = frozenset({"relative_rmse"})


class TrainingSettings(Section):
    """The test split and the metric gate a model must pass to be registered."""

    test_size: float = Field(default=0.2, gt=0, lt=1, description="Share of rows held out.")
    random_state: int = Field(default=42, description="Seed of the split.")
    metric: Metric = Field(
        default=TASK_METRICS[TASK][0],
        description=f"The metric the gate judges on the test split ({TASK}:"
        f" {', '.join(TASK_METRICS[TASK])}).",
    )
    gate: float | None = Field(
        default=None,
        description="The metric's minimum (maximum for relative_rmse); null: its default.",
    )

    @model_validator(mode="after")
    def _metric_fits_task(self) -> "TrainingSettings":
        if self.metric not in TASK_METRICS[TASK]:
            known = ", ".join(TASK_METRICS[TASK])
            raise ValueError(
                f"metric {self.metric!r} does not fit the {TASK} task (dataset.py);"
                f" choose one of {known}"
            )
        return self

    @property
    def threshold(self) -> float:
        """The gate's value: configured, or the metric's default."""
        return DEFAULT_GATES[self.metric] if self.gate is None else self.gate

    def passes(self, value: float) -> bool:
        """Whether a metric value passes the gate (NaN never does)."""
        if self.metric in LOWER_IS_BETTER:
            return value <= self.threshold
        return value >= self.threshold


class StorageSettings(Section):
    """Where models and reports are kept (any fsspec URI)."""

    registry_uri: str = Field(min_length=1, description="The model registry's folder.")
    reports_uri: str = Field(min_length=1, description="Training and monitoring reports.")


class StoreSettings(Section):
    """The prediction store: history, feedback, online features, batch predictions."""

    url: str = Field(min_length=1, description="SQLAlchemy URL of the prediction store.")
    flush_interval_seconds: float = Field(default=0.5, gt=0, description="History write delay.")
    flush_rows: int = Field(default=1000, gt=0, description="Flush history at this many rows.")
    history_mode: Literal["durable", "background"] = Field(
        default="durable",
        description="durable: a prediction is stored before it is answered (group commit);"
        " background: answered first, written within flush_interval_seconds.",
    )
    history_max_pending: int = Field(
        default=10_000, gt=0, description="Uncommitted predictions before 503 Retry-After."
    )
{%- if cookiecutter.serving == "fastapi" %}


class ServingSettings(Section):
    """The HTTP service: micro-batching, request limits and online feature freshness.

    Entities with no data are answered from the model card's baseline (training).
    """

    max_batch_size: int = Field(default=64, gt=0, description="Records per model call.")
    max_wait_ms: float = Field(default=2.0, ge=0, description="Wait for more records.")
    max_records: int = Field(default=1000, gt=0, description="Records per POST /predict.")
    max_upload_mb: float = Field(default=100, gt=0, description="POST /predict-batch limit.")
    feature_max_age_hours: float = Field(default=48, gt=0, description="Online feature freshness.")
    max_body_mb: float = Field(default=2, gt=0, description="Request body limit but uploads.")
    rate_limit_per_second: float | None = Field(
        default=None, gt=0, description="Requests per second per API key (or address); off: null."
    )
    rate_limit_burst: int = Field(default=20, gt=0, description="Requests allowed at once.")


class AuthSettings(Section):
    """API keys of the service. Set them in the environment, never in configs/*.yaml."""

    enabled: bool | None = Field(
        default=None, description="Null: on outside env local, and wherever a key is set."
    )
    predict_keys: SecretStr = Field(
        default=SecretStr(""), description="Comma-separated keys that may predict."
    )
    admin_keys: SecretStr = Field(
        default=SecretStr(""), description="Comma-separated keys that may also read and write."
    )
    keys_dir: str | None = Field(
        default=None, description="A mounted secret: files named like the key variables."
    )
{%- endif %}


class MonitoringSettings(Section):
    """What `monitor` judges and when it asks for retraining (exit code 7)."""

    window_days: float = Field(default=7, gt=0, description="How far back monitor looks.")
    min_accuracy: float = Field(
        default=0.7, ge=0, le=1, description="Classifiers: alert below this accuracy on feedback."
    )
    max_relative_rmse: float = Field(
        default=0.8,
        gt=0,
        description="Regression: alert above this RMSE / standard deviation on feedback.",
    )
    min_feedback: int = Field(default=50, gt=0, description="Feedback needed to judge quality.")
    max_psi: float = Field(
        default=0.2, gt=0, description="Alert when a feature's or the predictions' PSI exceeds it."
    )
    min_rows: int = Field(default=100, gt=0, description="Recent rows needed to judge drift.")


{%- if cookiecutter.tracking == "mlflow" %}


class TrackingSettings(Section):
    """MLflow: where training runs are logged and models registered."""

    uri: str = Field(
        default="local",
        min_length=1,
        description="MLflow tracking URI (MLFLOW_TRACKING_URI wins); local: SQLite under"
        " artifacts/local, no server.",
    )
    experiment: str = Field(
        default=MODEL_NAME, min_length=1, description="Experiment the runs are logged to."
    )
{%- endif %}
{%- if cookiecutter.compute == "ray" %}


class ComputeSettings(Section):
    """Ray: the cluster batch scoring runs on."""

    address: str | None = Field(
        default=None,
        description="Ray cluster to attach to (RAY_ADDRESS wins); null: a local Ray runtime.",
    )
{%- endif %}


class LoggingSettings(Section):
    """Log level, and console (people) or JSON (machines) lines."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["console", "json"] = "json"


class RuntimeSettings(Section):
    """Native thread pools of the process."""

    threads: int | None = Field(
        default=None,
        gt=0,
        description="Threads per native pool (OpenMP, BLAS); default: the CPUs this process has.",
    )


class Settings(BaseSettings):
    """Everything a job needs, validated once at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    env: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    data: DataSettings
    model: ModelSettings = ModelSettings()
    training: TrainingSettings = TrainingSettings()
    storage: StorageSettings
    store: StoreSettings
{%- if cookiecutter.serving == "fastapi" %}
    serving: ServingSettings = ServingSettings()
    auth: AuthSettings = AuthSettings()
{%- endif %}
    monitoring: MonitoringSettings = MonitoringSettings()
{%- if cookiecutter.tracking == "mlflow" %}
    tracking: TrackingSettings = TrackingSettings()
{%- endif %}
{%- if cookiecutter.compute == "ray" %}
    compute: ComputeSettings = ComputeSettings()
{%- endif %}
    logging: LoggingSettings = LoggingSettings()
    runtime: RuntimeSettings = RuntimeSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


class SettingsError(Exception):
    """The requested environment does not exist or its settings are invalid."""


def config_dir() -> Path:
    """The folder of configs/<env>.yaml (CONFIG_DIR_VARIABLE, or ./configs)."""
    return Path(os.environ.get(CONFIG_DIR_VARIABLE, "configs"))


def available_envs(directory: Path) -> list[str]:
    """The environments with a settings file in `directory`."""
    return sorted(path.stem for path in directory.glob("*.yaml"))


def load_settings(env: str, directory: Path | None = None) -> Settings:
    """Load and validate the settings of `env`; raise SettingsError naming the bad key."""
    directory = directory if directory is not None else config_dir()
    path = directory / f"{env}.yaml"
    if not path.is_file():
        known = ", ".join(available_envs(directory)) or "none"
        raise SettingsError(f"unknown environment {env!r}: no {path} (known: {known})")

    class EnvSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=path)

    try:
        settings = EnvSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            f" (got {shorten(repr(issue['input']))})"
            for issue in error.errors()
        )
        raise SettingsError(f"invalid settings for environment {env!r}: {problems}") from None
    if settings.env != env:
        raise SettingsError(f"{path}: key 'env' is {settings.env!r}, expected {env!r}")
    return settings
