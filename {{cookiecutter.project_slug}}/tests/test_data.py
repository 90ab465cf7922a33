"""The data steps (load, clean, features), whatever the table."""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from pandera.errors import SchemaErrors

from {{cookiecutter.package_name}} import data, io
from {{cookiecutter.package_name}}.contracts import (
    ID_COLUMN,
    TARGET_COLUMN,
    describe_violation,
    features_contract,
)
from .conftest import PROJECT_ROOT, refused_values

needs_id = pytest.mark.skipif(ID_COLUMN is None, reason="the table has no id column")


def test_fingerprint_changes_with_content(table: pd.DataFrame) -> None:
    changed = table.copy()
    changed.iloc[0] = table.iloc[1]
    assert data.fingerprint(table) == data.fingerprint(table.copy())
    assert data.fingerprint(table) != data.fingerprint(changed)


@pytest.mark.parametrize("content", [b"", b"a,b\nC1,1\n", b"PAR1" + bytes(range(256)) + b"PAR1"])
def test_an_unreadable_parquet_file_is_a_data_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "table.parquet"
    path.write_bytes(content)
    with pytest.raises(data.DataError, match=r"table\.parquet: not a readable Parquet file"):
        data.load_raw(str(path))
    with pytest.raises(data.DataError, match="not a readable Parquet file"):
        list(data.stream_raw(str(path), chunk_rows=10))


def test_parquet_and_csv_give_the_same_records(tmp_path: Path, table: pd.DataFrame) -> None:
    io.write_table(str(tmp_path / "table.parquet"), table)
    io.write_table(str(tmp_path / "table.csv"), table)
    from_parquet = data.load_raw(str(tmp_path / "table.parquet"))
    from_csv = data.load_raw(str(tmp_path / "table.csv"))
    pd.testing.assert_frame_equal(from_parquet, from_csv)
    chunks = list(data.stream_raw(str(tmp_path / "table.parquet"), chunk_rows=150))
    assert [len(chunk) for chunk in chunks] == [150, 150, 100]


def test_loading_enforces_the_raw_contract(tmp_path: Path, table: pd.DataFrame) -> None:
    name, value = next(iter(refused_values().items()))
    broken = table.astype(object)
    broken.at[7, name] = value
    path = str(tmp_path / "table.csv")
    io.write_table(path, broken)
    with pytest.raises(SchemaErrors) as caught:
        data.load_raw(path)
    assert repr(name) in describe_violation(caught.value)
    with pytest.raises(SchemaErrors):
        list(data.stream_raw(path, chunk_rows=100))


def test_clean_and_features_keep_every_row_in_the_contracts(table: pd.DataFrame) -> None:
    features = data.build_features(data.clean(data.validate_raw(table)))
    assert len(features) == len(table)
    assert list(features.columns) == list(features_contract.columns)
    assert features[TARGET_COLUMN].tolist() == table[TARGET_COLUMN].tolist()


def test_the_service_cleans_records_as_the_batch_job_does(table: pd.DataFrame) -> None:
    raw = data.validate_raw(table.drop(columns=[TARGET_COLUMN]).head(25))
    batch = data.build_features(data.clean(raw))
    records = [
        {str(name): value for name, value in record.items()}
        for record in raw.astype(object).where(raw.notna(), None).to_dict(orient="records")
    ]
    columns = data.columns_from_records(records, list(raw.columns))
    single = data.add_features(data.apply_cleaning(pd.DataFrame(columns)))
    pd.testing.assert_frame_equal(single, batch, check_dtype=False)


@needs_id
def test_clean_keeps_the_first_record_per_id(table: pd.DataFrame) -> None:
    later = table.iloc[5:8].assign(**{str(ID_COLUMN): table[ID_COLUMN].iloc[:3].tolist()})
    raw = data.validate_raw(pd.concat([table, later], ignore_index=True))
    cleaned = data.clean(raw)
    assert cleaned[ID_COLUMN].is_unique
    assert len(cleaned) == len(table)
    expected = data.clean(data.validate_raw(table))
    pd.testing.assert_frame_equal(cleaned, expected)


def test_split_target_separates_the_label(table: pd.DataFrame) -> None:
    features, target = data.split_target(table)
    assert TARGET_COLUMN not in features.columns
    assert target.tolist() == table[TARGET_COLUMN].tolist()
    with pytest.raises(data.DataError, match=re.escape(repr(TARGET_COLUMN))):
        data.split_target(table.drop(columns=[TARGET_COLUMN]))


def without_id_column(source: str) -> str:
    """`dataset.py` edited to a table without an id: ID_COLUMN = None, its field gone."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "ID_COLUMN"
            and node.value is not None
        ):
            assert node.value.end_lineno == node.lineno, "ID_COLUMN spans lines"
            line = lines[node.lineno - 1]
            start, end = node.value.col_offset, node.value.end_col_offset
            lines[node.lineno - 1] = f"{line[:start]}None{line[end:]}"
        if isinstance(node, ast.ClassDef) and node.name == "RawSchema":
            for field in node.body:
                if isinstance(field, ast.AnnAssign) and _names(field) & {ID_COLUMN}:
                    drop.append((field.lineno, field.end_lineno or field.lineno))
    assert len(drop) == 1, f"no single field for {ID_COLUMN!r} in dataset.py"
    first, last = drop[0]
    return "".join(lines[: first - 1] + lines[last:])


def _names(field: ast.AnnAssign) -> set[str]:
    """The attribute's name and the column name of its alias, if any."""
    names = {field.target.id} if isinstance(field.target, ast.Name) else set()
    if isinstance(field.value, ast.Call):
        for keyword in field.value.keywords:
            if keyword.arg == "alias" and isinstance(keyword.value, ast.Constant):
                names = {str(keyword.value.value)}
    return names


WITHOUT_ID = """
import json

import pandas as pd

from PACKAGE import contracts, data, datagen
from PACKAGE.model import GradientBoostingModel
from PACKAGE.settings import ModelSettings

assert contracts.ID_COLUMN is None
table = datagen.generate(300, seed=1)
doubled = pd.concat([table, table.head(5)], ignore_index=True)
doubled.to_csv("table.csv", index=False)
cleaned = data.clean(data.load_raw("table.csv"))
features = data.build_features(cleaned)
chunks = [data.build_features(data.clean(chunk)) for chunk in data.stream_raw("table.csv", 100)]
model = GradientBoostingModel(ModelSettings(max_iter=10)).fit(*data.split_target(features))
scores = model.score(features.drop(columns=[contracts.TARGET_COLUMN]))
print(json.dumps({
    "module": contracts.__file__,
    "raw": list(contracts.raw_contract.columns),
    "predictions": list(contracts.predictions_contract.columns),
    "unlabelled": list(datagen.generate(3, seed=2, with_label=False).columns),
    "rows": len(features),
    "chunks": [len(chunk) for chunk in chunks],
    "scored": len(scores.prediction),
}))
"""


def test_a_table_without_an_id_column(tmp_path: Path) -> None:
    package = data.__name__.rpartition(".")[0]
    shutil.copytree(
        PROJECT_ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    dataset = tmp_path / "src" / package / "dataset.py"
    if ID_COLUMN is not None:
        dataset.write_text(without_id_column(dataset.read_text()))
    script = textwrap.dedent(WITHOUT_ID).replace("PACKAGE", package)
    environment = os.environ | {"PYTHONPATH": str(tmp_path / "src"), "PYTHONHASHSEED": "0"}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["module"].startswith(str(tmp_path))
    assert ID_COLUMN not in result["raw"]
    assert result["predictions"][0] == "prediction"
    assert TARGET_COLUMN not in result["unlabelled"]
    assert result["rows"] == 305  # no id: nothing is a duplicate
    assert result["chunks"] == [100, 100, 100, 5]
    assert result["scored"] == 305
