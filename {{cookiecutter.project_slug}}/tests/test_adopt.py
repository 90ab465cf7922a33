"""`adopt`: the inferred contract fits its table, the written project works, refusals write nothing.

Generated tables (any column names, types, missing values, tasks, with and without an
id) go through the inference in this process; the command itself runs in a copy of
the project, so the real project files are never rewritten.
"""

import hashlib
import keyword
import os
import shutil
import string
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from {{cookiecutter.package_name}} import adopt
from {{cookiecutter.package_name}}.cli import ExitCode
from .conftest import PROJECT_ROOT

PACKAGE = adopt.PACKAGE
COPIED = ("src", "configs", "data/sample", "tests", "README.md", "pyproject.toml")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
# Column names a table may have that Python or the schema class cannot take as they are.
AWKWARD_NAMES = (
    "class",
    "def",
    "Sale Price",
    "l",
    "pa",
    "str",
    "Config",
    "validate",
    "2020 total",
    "naïve",
    'say "hi"',
    "it's",
    "TotalCharges",
    "x" * 70,
    "ünïcødé \u2013 dash",
    "_private",
    "match",
)
PLAIN_NAME = st.text(string.ascii_letters + string.digits + " _-.", min_size=1, max_size=24)
COLUMN_NAME = st.one_of(st.sampled_from(AWKWARD_NAMES), PLAIN_NAME).filter(
    lambda name: name.strip() == name and not name.lower().startswith("unnamed")
)
CATEGORIES = ("red", "green", "blue", "north-east", "Mixed Case", "x")


# ---------------------------------------------------------------- generated tables


@st.composite
def feature_values(draw: st.DrawFn, rows: int) -> list[Any]:
    """One feature column: integers, floats, categories, free text or booleans."""
    kind = draw(st.sampled_from(["int", "float", "category", "text", "bool"]))
    if kind == "int":
        low = draw(st.integers(-1000, 1000))
        values: list[Any] = draw(
            st.lists(st.integers(low, low + 500), min_size=rows, max_size=rows)
        )
    elif kind == "float":
        floats = st.floats(-1e6, 1e6, allow_nan=False).map(lambda value: round(value, 3))
        values = draw(st.lists(floats, min_size=rows, max_size=rows))
    elif kind == "category":
        chosen = draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=4, unique=True))
        values = [chosen[index % len(chosen)] for index in range(rows)]
    elif kind == "text":
        words = st.text(string.ascii_letters + " ", min_size=1, max_size=12).map(str.strip)
        values = [
            f"w{index}-{word}"
            for index, word in enumerate(draw(st.lists(words, min_size=rows, max_size=rows)))
        ]
    else:
        values = draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
    if kind != "bool" and draw(st.booleans()):
        missing = draw(st.sets(st.integers(0, rows - 1), max_size=rows // 3))
        values = [None if index in missing else value for index, value in enumerate(values)]
    return values


TARGETS: dict[str, tuple[str, Callable[[int], object]]] = {
    "binary-int": ("binary", lambda index: index % 2),
    "binary-text": ("binary", lambda index: ("no", "yes")[index % 2]),
    "multiclass-text": ("multiclass", lambda index: ("gold", "silver", "bronze")[index % 3]),
    "multiclass-int": ("multiclass", lambda index: 1 + index % 4),
    "regression": ("regression", lambda index: round(1000.5 + 37.25 * ((index * 7) % 13), 2)),
}


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, str, str | None, str]:
    """A table, its target, its id column (or None) and the task `auto` should find."""
    rows = draw(st.integers(6, 40))
    names = draw(st.lists(COLUMN_NAME, min_size=3, max_size=7, unique_by=str.lower))
    target, *features = names
    with_id = draw(st.booleans()) and len(features) > 1
    id_column = features.pop() if with_id else None
    task, label = TARGETS[draw(st.sampled_from(sorted(TARGETS)))]
    columns: dict[str, list[Any]] = {name: draw(feature_values(rows)) for name in features}
    if id_column is not None:
        prefix = draw(st.sampled_from(["", "C-", "row_", "A.b."]))
        columns[id_column] = [f"{prefix}{index}" for index in draw(st.permutations(range(rows)))]
    columns[target] = [label(index) for index in range(rows)]
    order = draw(st.permutations(list(columns)))
    return pd.DataFrame({name: columns[name] for name in order}), target, id_column, task


def read_back(frame: pd.DataFrame, folder: Path, name: str = "table.csv") -> pd.DataFrame:
    """The table as adopt reads it: written as CSV, read through io."""
    path = folder / name
    frame.to_csv(path, index=False)
    return adopt.read_sample(str(path))


def ruff(*arguments: str, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, "--stdin-filename", "dataset.py", "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_the_inferred_contract_validates_its_table(
    table: tuple[pd.DataFrame, str, str | None, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    frame, target, id_column, task = table
    read = read_back(frame, tmp_path_factory.mktemp("table"))

    contract = adopt.infer_contract(read, target, id_column)
    source = adopt.dataset_source(contract)
    schema = adopt.load_schema(source).to_schema()

    assert contract.task == task
    assert list(schema.columns) == list(read.columns)
    assert not schema.columns[target].required
    validated = schema.validate(read, lazy=True)
    assert len(validated) == len(read)
    if id_column is not None:
        assert validated[id_column].is_unique
    compile(source, "dataset.py", "exec")
    assert ruff("format", "--check", text=source).returncode == 0, ruff(
        "format", text=source
    ).stdout
    linted = ruff("check", text=source)
    assert linted.returncode == 0, linted.stdout


@settings(max_examples=25, deadline=None)
@given(
    table=tables(),
    task=st.sampled_from(["binary", "multiclass", "regression"]),
)
def test_a_task_that_does_not_fit_is_refused_else_kept(
    table: tuple[pd.DataFrame, str, str | None, str], task: adopt.Task
) -> None:
    frame, target, id_column, _ = table
    classes = frame[target].nunique()
    numeric = pd.api.types.is_numeric_dtype(frame[target])
    fits = {
        "binary": classes == 2,
        "multiclass": not numeric or (frame[target] % 1 == 0).all(),
        "regression": numeric,
    }[task]

    if not fits:
        with pytest.raises(adopt.AdoptError, match=f"--task {task}"):
            adopt.infer_contract(frame, target, id_column, task)
        return
    contract = adopt.infer_contract(frame, target, id_column, task)
    assert contract.task == task
    adopt.load_schema(adopt.dataset_source(contract)).validate(frame)


@given(name=st.text(min_size=1, max_size=80))
def test_any_column_name_gets_a_field_and_a_literal(name: str) -> None:
    field = adopt.field_names([name])[0]

    assert field.isidentifier()
    assert field.isascii()
    assert field == field.lower()
    assert not keyword.iskeyword(field)
    assert field not in adopt.RESERVED_FIELDS
    assert eval(adopt.string_literal(name)) == name
    assert adopt.string_literal(name).isascii()


def test_field_names_stay_distinct_and_readable() -> None:
    names = ["Sale Price", "sale_price", "class", "2020", "", "Größe", "totalCharges", "l"]

    fields = adopt.field_names(names)

    assert fields == [
        "sale_price_2",
        "sale_price",
        "class_",
        "column_2020",
        "column",
        "gro_e",
        "total_charges",
        "l_",
    ]


@given(
    low=st.floats(-1e9, 1e9, allow_nan=False),
    span=st.floats(0, 1e9, allow_nan=False),
)
def test_ranges_hold_the_values_with_slack(low: float, span: float) -> None:
    high = low + span
    wide_low, wide_high = adopt.widen(low, high, nonnegative=low >= 0)

    assert wide_low <= low
    assert high <= wide_high
    assert wide_high > wide_low
    if low >= 0:
        assert wide_low >= 0


def test_ranges_widen_by_half_the_span_and_round() -> None:
    values = pd.Series([10, 20, 30], name="rooms")

    column = adopt.infer_feature(values)

    assert (column.kind, column.ge, column.le, column.nullable) == ("int", 0, 40, False)
    prices = adopt.infer_feature(pd.Series([-1.5, 0.25, 8.123], name="delta"))
    assert (prices.kind, prices.ge, prices.le) == ("float", -6.32, 13)


def test_text_with_few_repeated_values_is_a_category_else_free_text() -> None:
    category = adopt.infer_feature(pd.Series(["b", "a", None, "b", "a"], name="c"))
    text = adopt.infer_feature(pd.Series(["Ann", "Bob", "Carla"], name="who"))

    assert (category.isin, category.nullable) == (("a", "b"), True)
    assert (text.isin, text.str_length) == (None, (2, 6))


def test_the_id_pattern_names_the_characters_seen() -> None:
    ids = adopt.infer_id(pd.Series(["C-001", "C-002", "C-100"], name="id"))
    numbers = adopt.infer_id(pd.Series([7, 12, 3000], name="n"))

    assert ids.pattern == "^[A-Z0-9-]{1,12}$"
    assert numbers.pattern == "^[0-9]{1,12}$"
    long = adopt.infer_id(pd.Series(["a" * 20, "b" * 30], name="long"))
    assert long.pattern == "^[a-z]{1,45}$"


def test_booleans_become_zero_and_one() -> None:
    flag = adopt.infer_feature(pd.Series([True, False, True], name="flag"))
    maybe = adopt.infer_feature(pd.Series([True, None, False], name="maybe", dtype=object))

    assert (flag.kind, flag.isin) == ("int", (0, 1))
    assert (maybe.kind, maybe.isin, maybe.nullable) == ("float", (0, 1), True)


def test_the_settings_follow_the_new_sample() -> None:
    text = (
        "data:\n"
        "  train_uri: data/sample/customers.csv\n"
        "  predict_input_uri: s3://bucket-dev/data/customers.csv\n"
        "  predictions_uri: artifacts/local/predictions/customers.csv\n"
        "  chunk_rows: 50000\n"
        "# keep data/sample/customers.csv in comments\n"
    )

    updated = adopt.updated_config(
        text, "data/sample/customers.csv", "data/sample/houses.csv", "customers", "houses"
    )

    assert updated.splitlines() == [
        "data:",
        "  train_uri: data/sample/houses.csv",
        "  predict_input_uri: s3://bucket-dev/data/houses.csv",
        "  predictions_uri: artifacts/local/predictions/houses.csv",
        "  chunk_rows: 50000",
        "# keep data/sample/customers.csv in comments",
    ]


# ---------------------------------------------------------------- refusals


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project to adopt tables in (the real one is never rewritten)."""
    root = tmp_path / "project"
    for name in COPIED:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=IGNORED)
        elif source.is_file():
            shutil.copy2(source, root / name)
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` and a digest of its bytes."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def houses(rows: int = 300, seed: int = 1) -> pd.DataFrame:
    """A house-price table: awkward names, an id, missing values, text and numbers."""
    rng = np.random.default_rng(seed)
    area = rng.integers(1_300, 21_500, size=rows)
    built = rng.integers(1872, 2011, size=rows)
    neighborhood = rng.choice(["CollgCr", "Edwards", "NAmes", "OldTown", "Somerst"], size=rows)
    frame = pd.DataFrame(
        {
            "Id": np.arange(1, rows + 1),
            "Lot Area": area,
            "YearBuilt": built,
            "Neighborhood": neighborhood,
            "Central Air": rng.choice(["Y", "N"], size=rows, p=[0.9, 0.1]),
            "GarageCars": rng.integers(0, 4, size=rows).astype(float),
            "class": rng.choice(["1Story", "2Story"], size=rows),
        }
    )
    frame.loc[rng.uniform(size=rows) < 0.05, "GarageCars"] = np.nan
    price = 20_000 + 8 * area + 600 * (built - 1870) + rng.normal(0, 15_000, size=rows)
    frame["SalePrice"] = np.round(price, 0)
    return frame


REFUSALS = [
    ({"target": "price"}, "no target column 'price'.*'SalePrice'"),
    ({"target": "SalePrice", "id_column": "ID"}, "no id column 'ID'.*'Id'"),
    ({"target": "Central Air", "id_column": "Neighborhood"}, "duplicated value.*'CollgCr'"),
    ({"target": "Constant"}, "single value"),
    ({"target": "SalePrice", "task": "binary"}, "--task binary needs a target with exactly 2"),
    ({"target": "Neighborhood", "task": "regression"}, "needs a numeric target"),
    ({"target": "Ratio", "task": "multiclass"}, "fractional numbers"),
    ({"target": "Id", "id_column": "Id"}, "both the target and the id"),
    ({"target": "SalePrice", "id_column": "Bad Id"}, "not 1 to 64 ASCII.*'a b'"),
]


@pytest.mark.parametrize(("arguments", "message"), REFUSALS)
def test_refusals_name_the_problem_and_write_nothing(
    project: Path, arguments: dict[str, Any], message: str
) -> None:
    table = houses(60).assign(
        Constant=1,
        Ratio=np.linspace(0, 1, 60),
        **{"Bad Id": [f"h{i}" for i in range(59)] + ["a b"]},
    )
    path = project.parent / "houses.csv"
    table.to_csv(path, index=False)
    before = snapshot(project)

    with pytest.raises(adopt.AdoptError, match=message):
        adopt.plan(str(path), root=project, **arguments)

    assert snapshot(project) == before


def test_an_empty_table_is_refused(project: Path) -> None:
    path = project.parent / "empty.csv"
    path.write_text("a,b,target\n", encoding="utf-8")

    with pytest.raises(adopt.AdoptError, match="no rows"):
        adopt.plan(str(path), "target", root=project)


def test_only_a_project_checkout_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "houses.csv"
    houses(20).to_csv(path, index=False)

    with pytest.raises(adopt.AdoptError, match="no project checkout"):
        adopt.plan(str(path), "SalePrice", root=tmp_path / "elsewhere")


def run_adopt(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m <package> adopt ...` in the copy, importing the copy's source."""
    environment = dict(os.environ, PYTHONPATH=str(project / "src"))
    return subprocess.run(
        [sys.executable, "-m", PACKAGE, "adopt", *arguments],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_the_command_refuses_with_exit_4_and_writes_nothing(project: Path) -> None:
    path = project.parent / "houses.csv"
    houses(50).to_csv(path, index=False)
    before = snapshot(project)

    done = run_adopt(project, "--input", str(path), "--target", "Price", "--id", "Id")

    assert done.returncode == ExitCode.DATA, done.stderr
    assert "error: no target column 'Price'" in done.stderr
    assert "'SalePrice'" in done.stderr
    assert snapshot(project) == before
    empty = project.parent / "zero.csv"
    empty.write_bytes(b"")
    assert run_adopt(project, "--input", str(empty), "--target", "y").returncode == ExitCode.DATA
    assert snapshot(project) == before


# ---------------------------------------------------------------- the command end to end


def adopted(project: Path, table: pd.DataFrame, name: str, *arguments: str) -> str:
    """Adopt `table` (saved as `name`) in the copy; return what the command printed."""
    path = project.parent / name
    if name.endswith(".parquet"):
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    done = run_adopt(project, "--input", str(path), *arguments)
    assert done.returncode == 0, done.stderr
    return done.stdout


def check_fresh_import(project: Path) -> pd.DataFrame:
    """A fresh interpreter imports the adopted project; return its sample."""
    code = (
        f"from {PACKAGE} import contracts, io\n"
        "frame = io.read_table(contracts.SAMPLE_URI)\n"
        "contracts.raw_contract.validate(frame, lazy=True)\n"
        "print(contracts.TASK, contracts.TARGET_COLUMN, contracts.ID_COLUMN)\n"
    )
    environment = dict(os.environ, PYTHONPATH=str(project / "src"))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return pd.read_csv(project / next((project / "data" / "sample").glob("*.csv")))


def test_adopting_a_regression_table_rewrites_the_project(project: Path) -> None:
    old_sample = sorted((project / "data" / "sample").glob("*.csv"))
    source = project / "src" / PACKAGE
    previous_store = project / adopt.LOCAL_ARTIFACTS / "store.db"
    previous_store.parent.mkdir(parents=True)
    previous_store.write_bytes(b"the previous table's predictions")

    printed = adopted(project, houses(), "houses.csv", "--target", "SalePrice", "--id", "Id")

    assert "task: regression" in printed
    assert "Lot Area (lot_area)" in printed
    assert "git diff" in printed
    assert "features.py" in printed
    assert sorted((project / "data" / "sample").glob("*.csv")) == [
        project / "data" / "sample" / "houses.csv"
    ]
    assert all(not path.exists() for path in old_sample if path.name != "houses.csv")
    dataset = (source / "dataset.py").read_text(encoding="utf-8")
    assert 'TASK: Final[Literal["binary", "multiclass", "regression"]] = "regression"' in dataset
    assert 'SAMPLE_URI: Final[str] = "data/sample/houses.csv"' in dataset
    assert 'lot_area: Series[int] = pa.Field(alias="Lot Area"' in dataset
    assert 'class_: Series[str] = pa.Field(alias="class", isin=["1Story", "2Story"])' in dataset
    assert ruff("format", "--check", text=dataset).returncode == 0
    assert ruff("check", text=dataset).returncode == 0
    features, tests = adopt.generic_sources(project).values()
    assert (source / "features.py").read_text(encoding="utf-8") == features
    assert (project / "tests" / "test_features.py").read_text(encoding="utf-8") == tests
    local = (project / "configs" / "local.yaml").read_text(encoding="utf-8")
    assert "train_uri: data/sample/houses.csv" in local
    assert "predictions_uri: artifacts/local/predictions/houses.csv" in local
    assert not (project / adopt.LOCAL_ARTIFACTS).exists()
    (aside,) = (project / "artifacts").glob("local-before-adopt-*")
    assert (aside / "store.db").read_bytes() == b"the previous table's predictions"
    assert f"artifacts/local -> artifacts/{aside.name}" in printed
    sample = check_fresh_import(project)
    assert list(sample.columns) == list(houses().columns)
    assert len(sample) == adopt.SAMPLE_ROWS
    if (source / "serving" / "examples.py").is_file():
        readme = (project / "README.md").read_text(encoding="utf-8")
        assert "file=@data/sample/houses.csv" in readme
        assert "Lot Area" in readme


def test_adopting_parquet_with_a_copied_sample_and_no_id(project: Path) -> None:
    rng = np.random.default_rng(3)
    table = pd.DataFrame(
        {
            "x1": rng.normal(size=200),
            "x2": rng.integers(0, 9, size=200),
            "def": rng.choice(["a", "b", "c"], size=200),
            "label": rng.choice(["low", "mid", "high"], size=200),
        }
    )

    printed = adopted(
        project,
        table,
        "levels.parquet",
        "--target",
        "label",
        "--sample",
        "copy",
        "--sample-rows",
        "50",
    )

    assert "task: multiclass" in printed
    assert "not anonymised" in printed
    sample = check_fresh_import(project)
    assert len(sample) == 50
    merged = sample.merge(table, how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    dataset = (project / "src" / PACKAGE / "dataset.py").read_text(encoding="utf-8")
    assert "ID_COLUMN: Final[str | None] = None" in dataset
    assert 'def_: Series[str] = pa.Field(alias="def", isin=["a", "b", "c"])' in dataset


def test_a_failing_step_restores_every_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = project.parent / "houses.csv"
    houses(80).to_csv(path, index=False)
    before = snapshot(project)
    plan = adopt.plan(str(path), "SalePrice", "Id", root=project)
    monkeypatch.setattr(adopt, "FRESH_CHECK", "raise SystemExit('the new contract is broken')")

    with pytest.raises(adopt.AdoptError, match="the new contract is broken"):
        adopt.apply(plan)

    assert snapshot(project) == before


def test_the_shown_contract_names_every_column_and_file(project: Path) -> None:
    path = project.parent / "houses.csv"
    houses(40).to_csv(path, index=False)

    plan = adopt.plan(str(path), "SalePrice", "Id", sample="copy", sample_rows=10, root=project)
    shown = adopt.describe(plan)

    assert "contract inferred from 40 rows" in shown
    assert "task: regression" in shown
    for column in houses(40).columns:
        assert column in shown
    assert "10 rows copied from the table (real data: not anonymised)" in shown
    assert f"src/{PACKAGE}/dataset.py" in shown
    assert "configs/local.yaml" in shown
    assert "and removes data/sample/" in shown
    assert "free text" not in shown


def test_adopting_a_numeric_binary_table_with_an_id(project: Path) -> None:
    rng = np.random.default_rng(5)
    signal = rng.normal(size=300)
    table = pd.DataFrame(
        {
            "account": [f"acc_{index:04d}" for index in range(300)],
            "signal": signal,
            "visits": rng.integers(0, 50, size=300),
            "default": (signal + rng.normal(0, 0.5, size=300) > 0).astype(int),
        }
    )

    printed = adopted(project, table, "accounts.csv", "--target", "default", "--id", "account")

    assert "task: binary" in printed
    sample = check_fresh_import(project)
    assert set(sample["default"]) == {0, 1}
    assert sample["account"].astype(str).str.fullmatch(r"[a-z0-9_]{1,12}").all()
    dataset = (project / "src" / PACKAGE / "dataset.py").read_text(encoding="utf-8")
    assert 'MODEL_NAME: Final[str] = "accounts-classifier"' in dataset
    assert "default: Series[int] | None = pa.Field(isin=[0, 1])" in dataset
