"""Command line: `{{ cookiecutter.package_name }} train|predict|generate`."""

import argparse
import sys
from collections.abc import Sequence
from enum import IntEnum

from pandera.errors import SchemaErrors

from {{cookiecutter.package_name}} import io
from {{cookiecutter.package_name}}.contracts import describe_violation
from {{cookiecutter.package_name}}.datagen import generate_customers
from {{cookiecutter.package_name}}.logs import configure_logging, get_logger
from {{cookiecutter.package_name}}.model import UntrustedModelError
from {{cookiecutter.package_name}}.pipelines.predict import predict
from {{cookiecutter.package_name}}.pipelines.train import MetricGateError, train
from {{cookiecutter.package_name}}.registry import RegistryError
from {{cookiecutter.package_name}}.settings import Settings, SettingsError, load_settings

logger = get_logger(__name__)


class ExitCode(IntEnum):
    OK = 0
    USAGE = 2
    SETTINGS = 3
    CONTRACT = 4
    METRIC_GATE = 5
    REGISTRY = 6


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="{{ cookiecutter.package_name }}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train_parser = commands.add_parser("train", help="train, evaluate and register a model")
    predict_parser = commands.add_parser("predict", help="score a dataset in batch")
    for command in (train_parser, predict_parser):
        command.add_argument("--env", default="local", help="configs/<env>.yaml (default: local)")
    predict_parser.add_argument("--input", help="input URI (default: data.predict_input_uri)")
    predict_parser.add_argument("--output", help="output URI (default: data.predictions_uri)")

    generate_parser = commands.add_parser("generate", help="write a synthetic customer dataset")
    generate_parser.add_argument("--rows", type=int, required=True)
    generate_parser.add_argument("--output", required=True, help="output URI (CSV)")
    generate_parser.add_argument("--seed", type=int, default=0)
    generate_parser.add_argument("--no-label", action="store_true", help="omit the label")
    return parser


def run(args: argparse.Namespace, settings: Settings | None) -> None:
    if args.command == "generate":
        frame = generate_customers(args.rows, seed=args.seed, with_label=not args.no_label)
        io.write_csv(args.output, frame)
        print(f"wrote {len(frame)} rows to {args.output}")
    elif args.command == "train" and settings is not None:
        result = train(settings)
        card = result.card
        metrics = ", ".join(f"{key}={value:.3f}" for key, value in card.metrics.items())
        print(f"registered {card.name} v{card.version} as {settings.env!r}: {metrics}")
        print(f"report: {result.report_uri}")
    elif args.command == "predict" and settings is not None:
        scored = predict(settings, input_uri=args.input, output_uri=args.output)
        print(f"wrote {scored.rows} predictions (model v{scored.model_version})")
        print(f"output: {scored.output_uri}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = None
    try:
        if args.command != "generate":
            settings = load_settings(args.env)
            configure_logging(settings.logging.level, settings.logging.format)
        else:
            configure_logging("INFO", "console")
        run(args, settings)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.SETTINGS
    except SchemaErrors as error:
        logger.error("contract.violation", command=args.command)
        print(f"error: data contract violated\n{describe_violation(error)}", file=sys.stderr)
        return ExitCode.CONTRACT
    except MetricGateError as error:
        logger.error("train.rejected", reason=str(error))
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.METRIC_GATE
    except (RegistryError, UntrustedModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.REGISTRY
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
