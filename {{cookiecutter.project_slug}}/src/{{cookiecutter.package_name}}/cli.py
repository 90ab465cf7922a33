"""The command line: train, predict, monitor, {% if cookiecutter.serving == "fastapi" %}serve, {% endif %}generate, adopt."""

import argparse
import sys
from collections.abc import Sequence
from enum import IntEnum

from pandera.errors import SchemaErrors

from . import adopt, io, runtime
from .contracts import SAMPLE_URI, describe_violation
from .data import DataError
from .datagen import generate
from .logs import configure_logging, get_logger, shorten
from .model import ModelLoadError
from .pipelines.monitor import RetrainNeededError, monitor
{%- if cookiecutter.compute == "ray" %}
from .pipelines.predict_ray import predict
{%- else %}
from .pipelines.predict import predict
{%- endif %}
from .pipelines.train import MetricGateError, train
from .registry import RegistryError{% if cookiecutter.serving == "fastapi" %}, open_registry{% endif %}
{%- if cookiecutter.serving == "fastapi" %}
from .serving.app import serve
{%- endif %}
from .settings import Settings, SettingsError, load_settings
from .store import StoreError

logger = get_logger(__name__)


class ExitCode(IntEnum):
    """What the README's exit-code table documents; schedulers act on these."""

    OK = 0
    USAGE = 2
    SETTINGS = 3
    DATA = 4
    CONTRACT = 4
    METRIC_GATE = 5
    REGISTRY = 6
    RETRAIN_NEEDED = 7
    STORE = 8
    STORAGE = 9
    SERVE = 10


# Longest line of an error message (values inside are cut to 80 characters already).
MESSAGE_LINE_LIMIT = 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="{{ cookiecutter.package_name }}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train_parser = commands.add_parser("train", help="train, evaluate and register a model")
    predict_parser = commands.add_parser("predict", help="score a dataset in batch")
    monitor_parser = commands.add_parser(
        "monitor", help="check quality (feedback) and drift (training data); exit 7: retrain"
    )
{%- if cookiecutter.serving == "fastapi" %}
    serve_parser = commands.add_parser("serve", help="serve the model over HTTP")
    serve_parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000, help="default: 8000")
    for command in (train_parser, predict_parser, monitor_parser, serve_parser):
{%- else %}
    for command in (train_parser, predict_parser, monitor_parser):
{%- endif %}
        command.add_argument("--env", default="local", help="configs/<env>.yaml (default: local)")
    predict_parser.add_argument("--input", help="input URI (default: data.predict_input_uri)")
    predict_parser.add_argument("--output", help="output URI (default: data.predictions_uri)")

    generate_parser = commands.add_parser(
        "generate", help="write synthetic rows drawn from the contract"
    )
    generate_parser.add_argument("--rows", type=int, required=True)
    generate_parser.add_argument(
        "--output", default=SAMPLE_URI, help=f"output URI, .csv or .parquet (default: {SAMPLE_URI})"
    )
    generate_parser.add_argument("--seed", type=int, default=0)
    generate_parser.add_argument("--no-label", action="store_true", help="omit the label")
    adopt_parser = commands.add_parser(
        "adopt", help="infer the contract of your own table and switch the project to it"
    )
    add_adopt_arguments(adopt_parser)
    return parser


def add_adopt_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="the table: CSV or Parquet URI")
    parser.add_argument("--target", required=True, help="the column to predict")
    parser.add_argument("--id", help="the column naming each row (optional)")
    parser.add_argument(
        "--task", choices=["auto", *adopt.TASKS], default="auto", help="default: from the target"
    )
    parser.add_argument(
        "--sample",
        choices=["synthetic", "copy"],
        default="synthetic",
        help="data/sample: rows drawn from the contract, or copied from the table (real data)",
    )
    parser.add_argument(
        "--sample-rows", type=int, default=adopt.SAMPLE_ROWS, help="rows of data/sample"
    )
    parser.add_argument("--yes", action="store_true", help="write without asking")


def run_adopt(args: argparse.Namespace) -> None:
    """Infer and show the contract; write the files once confirmed (or with --yes)."""
    plan = adopt.plan(
        args.input,
        args.target,
        id_column=args.id,
        task=args.task,
        sample=args.sample,
        sample_rows=args.sample_rows,
    )
    print(adopt.describe(plan))
    if not args.yes and sys.stdin.isatty():
        try:
            answer = input("write these files? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing written")
            return
    print(adopt.next_steps(plan, adopt.apply(plan)))


def storage_uris(args: argparse.Namespace, settings: Settings) -> list[str]:
    """Every storage location the command touches, for the reachability check."""
    uris = [
        settings.storage.registry_uri,
        settings.storage.reports_uri,
        settings.data.train_uri,
        settings.data.predict_input_uri,
        settings.data.predictions_uri,
        getattr(args, "input", None) or "",
        getattr(args, "output", None) or "",
    ]
    return [uri for uri in dict.fromkeys(uris) if uri]


def prepare(args: argparse.Namespace, settings: Settings) -> None:
    """Before any work: size the native thread pools, check that storage answers."""
    runtime.limit_threads(settings.runtime.threads)
    for uri in storage_uris(args, settings):
        io.check_reachable(uri)


def run(args: argparse.Namespace, settings: Settings | None) -> None:
    if settings is not None:
        prepare(args, settings)
    if args.command == "generate":
        frame = generate(args.rows, seed=args.seed, with_label=not args.no_label)
        io.write_table(args.output, frame)
        print(f"wrote {len(frame)} rows to {args.output}")
    elif args.command == "adopt":
        run_adopt(args)
    elif args.command == "train" and settings is not None:
        result = train(settings)
        card = result.card
        metrics = ", ".join(f"{key}={value:.3f}" for key, value in card.metrics.items())
        print(f"registered {card.name} v{card.version} as {settings.env!r}: {metrics}")
        print(f"report: {result.report_uri}")
    elif args.command == "predict" and settings is not None:
        scored = predict(settings, input_uri=args.input, output_uri=args.output)
        print(f"wrote {scored.rows} predictions (model v{scored.model_version})")
        if scored.duplicates:
            print(f"dropped {scored.duplicates} rows whose id was already scored (first kept)")
{%- if cookiecutter.compute == "ray" %}
        if scored.nodes:
            split = ", ".join(f"{node}: {rows}" for node, rows in scored.nodes.items())
            print(f"rows scored per Ray node: {split}")
{%- endif %}
        print(f"output: {scored.output_uri}")
    elif args.command == "monitor" and settings is not None:
        report = monitor(settings)
        print(report.summary())
        print(f"report: {report.report_uri}")
        if report.retrain_needed:
            raise RetrainNeededError("; ".join(report.alerts))
{%- if cookiecutter.serving == "fastapi" %}
    elif args.command == "serve" and settings is not None:
        open_registry(settings).resolve(settings.env)
        serve(settings, host=args.host, port=args.port)
{%- endif %}


# What each failure means for the caller (a scheduler acts on the exit code).
FAILURES: tuple[tuple[type[Exception], ExitCode], ...] = (
    (SettingsError, ExitCode.SETTINGS),
    (adopt.AdoptError, ExitCode.DATA),
    (SchemaErrors, ExitCode.DATA),
    (DataError, ExitCode.DATA),
    (MetricGateError, ExitCode.METRIC_GATE),
    (RegistryError, ExitCode.REGISTRY),
    (ModelLoadError, ExitCode.REGISTRY),
    (RetrainNeededError, ExitCode.RETRAIN_NEEDED),
    (StoreError, ExitCode.STORE),
    (io.StorageError, ExitCode.STORAGE),
    (runtime.ServeError, ExitCode.SERVE),
)


def classify(error: Exception) -> tuple[ExitCode, Exception] | None:
    """The exit code for `error` (and the error to report), or None for a bug."""
    code = next((code for kind, code in FAILURES if isinstance(error, kind)), None)
    if code is not None:
        return code, error
    if io.is_storage_failure(error):
        return ExitCode.STORAGE, io.storage_error("storage", error)
    return None


def explain(error: Exception) -> str:
    if isinstance(error, SchemaErrors):
        text = f"data contract violated\n{describe_violation(error)}"
    elif isinstance(error, RetrainNeededError):
        text = f"retrain needed: {error}"
    else:
        text = str(error)
    return "\n".join(shorten(line, MESSAGE_LINE_LIMIT) for line in text.splitlines())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = None
    try:
        if args.command not in ("generate", "adopt"):
            settings = load_settings(args.env)
            configure_logging(settings.logging.level, settings.logging.format)
        else:
            configure_logging("INFO", "console")
        run(args, settings)
    except Exception as error:
        classified = classify(error)
        if classified is None:
            raise
        code, reported = classified
        failure = type(reported).__name__
        logger.error("command.failed", command=args.command, exit_code=int(code), error=failure)
        print(f"error: {explain(reported)}", file=sys.stderr)
        return code
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
