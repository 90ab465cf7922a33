"""Example requests (curl) for every endpoint, built from the request models and sample data.

    uv run python -m {{ cookiecutter.package_name }}.serving.examples                    # print
    uv run python -m {{ cookiecutter.package_name }}.serving.examples --write README.md  # refresh

The README's block between `BEGIN` and `END` is this module's output, and a test keeps
it so: after a change to the contract or to the sample data, run the second command.
"""

import argparse
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import data, io
from ..contracts import ID_COLUMN, SAMPLE_URI, TARGET_COLUMN
from ..store import json_records
from .schemas import InputRecord

BEGIN = "<!-- api-examples: begin (generated from the contract and data/sample) -->"
END = "<!-- api-examples: end -->"
BASE_URL = "http://127.0.0.1:8000"
SAMPLE = Path(SAMPLE_URI)
PREDICTION_ID = "<prediction_id>"  # the id an answer of POST /predict gave
PREDICT_KEY = "$API_KEY"
ADMIN_KEY = "$ADMIN_KEY"


@dataclass(frozen=True)
class Example:
    """One request: what it shows, and the parts curl sends."""

    title: str
    method: str
    path: str
    key: str | None = None  # a shell variable holding the API key
    body: str | None = None  # JSON text
    upload: str | None = None  # a file sent as the form field "file"

    def curl(self) -> str:
        url = BASE_URL + self.path
        lines = [f"curl -s {shlex.quote(url)}"]
        if self.method != "GET" and self.body is None and self.upload is None:
            lines[0] += f" -X {self.method}"
        if self.key is not None:
            lines.append(f'-H "Authorization: Bearer {self.key}"')
        if self.body is not None:
            lines.append('-H "Content-Type: application/json"')
            lines.append(f"-d {shlex.quote(self.body)}")
        if self.upload is not None:
            lines.append(f"-F {shlex.quote(f'file=@{self.upload}')}")
        return f"# {self.title}\n" + " \\\n  ".join(lines)


def examples(sample: pd.DataFrame, sample_path: Path = SAMPLE) -> list[Example]:
    """A request per endpoint, with the sample's first record (and its id, if any)."""
    first = json_records(sample.head(1))[0]
    record = InputRecord.model_validate(
        {name: first.get(name) for name in InputRecord.model_fields}
    )
    outcome = first.get(TARGET_COLUMN)
    feedback = json.dumps({"prediction_id": PREDICTION_ID, "outcome": outcome})
    model = Example("The served model (admin key)", "GET", "/model", ADMIN_KEY)
    history = Example("Past predictions (admin key)", "GET", "/history?limit=10", ADMIN_KEY)
    by_id = [model, history]
    identity = ID_COLUMN
    if identity is not None:
        entity = str(first[identity])
        by_id = [
            Example("A known entity, by id", "GET", f"/predict/{entity}", PREDICT_KEY),
            model,
            Example(
                "Past predictions of an entity (admin key)",
                "GET",
                f"/history?entity_id={entity}&limit=10",
                ADMIN_KEY,
            ),
        ]
    return [
        Example("The process is alive (open to anyone, as /ready and /metrics)", "GET", "/health"),
        Example("Ready to answer /predict", "GET", "/ready"),
        Example("Prometheus metrics", "GET", "/metrics"),
        Example(
            "Score a record (a JSON list of records scores many)",
            "POST",
            "/predict",
            PREDICT_KEY,
            body=json.dumps(record.model_dump(mode="json")),
        ),
        Example(
            "Score a CSV file (answer as CSV, or ?format=json)",
            "POST",
            "/predict-batch?format=csv",
            PREDICT_KEY,
            upload=str(sample_path),
        ),
        *by_id,
        Example(
            "The true outcome of a prediction (admin key; the prediction_id of an answer)",
            "POST",
            "/feedback",
            ADMIN_KEY,
            body=feedback,
        ),
    ]


def render(requests: Sequence[Example]) -> str:
    """The README block: the markers around a shell code block of every example."""
    commands = "\n\n".join(request.curl() for request in requests)
    return f"{BEGIN}\n```bash\n{commands}\n```\n{END}"


def replace_block(text: str, block: str) -> str:
    """`text` with its generated block replaced by `block`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no block between {BEGIN!r} and {END!r}")
    return text[:start] + block + text[end + len(END) :]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the API examples, or refresh a README.")
    parser.add_argument("--write", type=Path, help="replace the block in this file (README.md)")
    args = parser.parse_args(argv)
    block = render(examples(io.read_table(SAMPLE_URI, text=data.TEXT_COLUMNS)))
    if args.write is None:
        print(block)
        return
    text = args.write.read_text(encoding="utf-8")
    args.write.write_text(replace_block(text, block), encoding="utf-8")
    print(f"updated the API examples in {args.write}")


if __name__ == "__main__":
    main()
