"""Deep layer: a rendered project moves onto a user's own table with `adopt`, and works.

For each task, a table of another shape than the shipped sample is generated here
(other column names and count; numeric-only or mixed numeric and text; with or without
an id column; CSV or Parquet; a target with a learnable signal, so the metric gate
passes), in a folder outside the project as a user's download would be. The project is
rendered with another task than the table's where it can be, so ``adopt`` switches it,
then: ``make install``, ``<pkg> adopt --input ... --target ... [--id ...] --task ...
--yes`` (one table through ``make adopt DATA=... TARGET=... ID=... TASK=... YES=1``),
and with no other edit ``make check``, ``make train``, ``make predict`` and one POST
/predict to ``make serve`` over a real socket, answered as the task promises.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BakedProject, bake_project
from workflow import check_answer, dataset_constants, deep_env, local_config, request, serving

pytestmark = pytest.mark.deep

ROWS = 800
Row = dict[str, object]


def _logistic(score: float) -> float:
    return 1.0 / (1.0 + math.exp(-score))


def loan_defaults(rng: random.Random) -> list[Row]:
    """Binary, mixed: an id, numbers, text with gaps, a name with a space; 0/1 target."""
    regions = ("north", "south", "east", "west")
    employment = ("salaried", "self-employed", "retired")
    rows: list[Row] = []
    for index in range(ROWS):
        income = round(rng.uniform(12_000, 150_000), 2)
        debt_ratio = round(rng.uniform(0.0, 1.2), 3)
        late_payments = rng.randint(0, 9)
        region = rng.choice(regions)
        job = rng.choice(employment)
        score = (
            -2.2
            + 3.0 * debt_ratio
            + 0.45 * late_payments
            - income / 40_000
            + (0.8 if job == "self-employed" else 0.0)
        )
        rows.append(
            {
                "application_ref": f"APP-{index:06d}",
                "Annual Income": income,
                "debt_ratio": debt_ratio,
                "late_payments": late_payments,
                "region": region,
                "employment": "" if rng.random() < 0.05 else job,
                "defaulted": int(rng.random() < _logistic(score)),
            }
        )
    return rows


def plant_species(rng: random.Random) -> list[Row]:
    """Multiclass, mixed, no id: three text labels from the argmax of three linear scores."""
    labels = ("setosa", "versicolor", "virginica")
    soils = ("clay", "loam", "sand")
    rows: list[Row] = []
    for _ in range(ROWS):
        petal_length = round(rng.uniform(1.0, 7.0), 2)
        petal_width = round(rng.uniform(0.1, 2.5), 2)
        stem_height = round(rng.uniform(10.0, 90.0), 1)
        soil = rng.choice(soils)
        scores = (
            6.0 - 1.5 * petal_length - 1.0 * petal_width + (0.5 if soil == "sand" else 0.0),
            0.3 * petal_length + 0.4 * petal_width + 0.01 * stem_height,
            -5.0 + 1.0 * petal_length + 1.5 * petal_width + (0.5 if soil == "clay" else 0.0),
        )
        noisy = [score + rng.gauss(0.0, 0.3) for score in scores]
        rows.append(
            {
                "petal_length": petal_length,
                "petal_width": petal_width,
                "stem_height": stem_height,
                "soil": soil,
                "species": labels[noisy.index(max(noisy))],
            }
        )
    return rows


def station_load(rng: random.Random) -> list[Row]:
    """Regression, numeric-only with an id: a linear target plus noise."""
    rows: list[Row] = []
    for index in range(ROWS):
        temperature = round(rng.uniform(-10.0, 35.0), 1)
        humidity = round(rng.uniform(10.0, 100.0), 1)
        hour = rng.randint(0, 23)
        wind = round(rng.uniform(0.0, 60.0), 1)
        load = 120.0 + 2.5 * abs(temperature - 18.0) + 0.4 * humidity + 3.0 * hour - 0.5 * wind
        rows.append(
            {
                "station": f"ST{index:05d}",
                "temp_c": temperature,
                "humidity_pct": humidity,
                "hour": hour,
                "wind_kmh": wind,
                "load_kw": round(load + rng.gauss(0.0, 5.0), 3),
            }
        )
    return rows


@dataclass(frozen=True)
class Table:
    """A user's table: how it is made, stored and named to `adopt`."""

    task: str
    rendered_task: str  # the task the project is rendered with before `adopt`
    generate: Callable[[random.Random], list[Row]]
    file_name: str
    target: str
    id_column: str | None
    make: bool = False  # through `make adopt` rather than the command line


TABLES = {
    "binary": Table(
        "binary", "regression", loan_defaults, "loans.csv", "defaulted", "application_ref"
    ),
    "multiclass": Table("multiclass", "binary", plant_species, "plants.parquet", "species", None),
    "regression": Table(
        "regression", "multiclass", station_load, "load.csv", "load_kw", "station", make=True
    ),
}


def adopt_command(project: BakedProject, table: Table, source: Path) -> list[str]:
    """`<pkg> adopt ... --yes`, or `make adopt DATA=... YES=1` as the README shows it."""
    if table.make:
        command = ["make", "adopt", f"DATA={source}", f"TARGET={table.target}"]
        command += [f"TASK={table.task}", "YES=1"]
        return command + ([f"ID={table.id_column}"] if table.id_column else [])
    pkg = project.answers["package_name"]
    command = ["uv", "run", "--frozen", pkg, "adopt", "--input", str(source)]
    command += ["--target", table.target, "--task", table.task, "--yes"]
    return command + (["--id", table.id_column] if table.id_column else [])


def write_csv(path: Path, rows: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def project_python(project: BakedProject, env: dict[str, str], code: str, *args: str) -> str:
    """Run ``code`` with the project's interpreter (its pandas reads and writes Parquet)."""
    return project.run(["uv", "run", "--frozen", "python", "-c", code, *args], env=env).stdout


TO_PARQUET = "import sys, pandas as pd; pd.read_csv(sys.argv[1]).to_parquet(sys.argv[2])"
SHAPE = (
    "import json, sys, pandas as pd\n"
    "path = sys.argv[1]\n"
    "frame = pd.read_parquet(path) if path.endswith('.parquet') else pd.read_csv(path)\n"
    "print(json.dumps({'rows': len(frame), 'columns': list(frame.columns)}))\n"
)


def shape(project: BakedProject, env: dict[str, str], uri: str) -> dict:
    path = Path(uri.removeprefix("file://"))
    path = path if path.is_absolute() else project.path / path
    return json.loads(project_python(project, env, SHAPE, str(path)).splitlines()[-1])


@pytest.mark.parametrize("task", list(TABLES))
def test_adopt_a_table_of_another_shape_then_check_train_predict_and_serve(cookies, tmp_path, task):
    table = TABLES[task]
    rows = table.generate(random.Random(11))
    project = bake_project(cookies, task=table.rendered_task)
    env = deep_env(project)
    project.run(["make", "install"], env=env)

    # The table, where a user keeps downloads: outside the project.
    source = tmp_path / "incoming" / table.file_name
    if source.suffix == ".parquet":
        write_csv(source.with_suffix(".csv"), rows)
        project_python(project, env, TO_PARQUET, str(source.with_suffix(".csv")), str(source))
        source.with_suffix(".csv").unlink()
    else:
        write_csv(source, rows)

    project.run(adopt_command(project, table, source), env=env)

    dataset = dataset_constants(project)
    assert dataset["TASK"] == table.task
    assert dataset["TARGET_COLUMN"] == table.target
    assert dataset["ID_COLUMN"] == table.id_column

    for target in ("check", "train", "predict"):
        project.run(["make", target], env=env)

    data = local_config(project)["data"]
    scored = shape(project, env, data["predict_input_uri"])
    predictions = shape(project, env, data["predictions_uri"])
    assert predictions["rows"] == scored["rows"], "make predict did not score every row"
    assert "prediction" in predictions["columns"]
    assert ("probability" in predictions["columns"]) is (table.task != "regression")
    if table.id_column is not None:
        assert table.id_column in predictions["columns"]

    labels = {row[table.target] for row in rows}
    record = {key: None if value == "" else value for key, value in rows[0].items()}
    del record[table.target]
    with serving(project, env) as base:
        status, body = request(f"{base}/predict", record)
        assert status == 200, f"POST /predict answered {status}: {body}"
        assert isinstance(body, dict)
        (answer,) = body["predictions"]
        check_answer(answer, record, dataset, labels)
