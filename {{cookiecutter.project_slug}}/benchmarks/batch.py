"""Batch scoring throughput and peak memory as the input grows.

    uv run python benchmarks/batch.py [--rows 20000 100000 400000]

For each size, in a fresh process each: rows/second of the whole predict job
(read, contract, clean, features, predict, contract, write) beside raw in-memory
`model.predict_proba` on the same rows, and the job's peak memory. The job streams
its input in chunks (`data.chunk_rows`), so peak memory should stay flat.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from {{cookiecutter.package_name}} import data, io
from {{cookiecutter.package_name}}.datagen import generate_customers
from {{cookiecutter.package_name}}.pipelines.predict import predict
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.registry import Registry
from {{cookiecutter.package_name}}.settings import ENV_PREFIX, load_settings


def isolate_outputs(workdir: Path) -> None:
    """Keep the benchmark's models, reports and store in `workdir`, not artifacts/local."""
    os.environ[f"{ENV_PREFIX}STORAGE__REGISTRY_URI"] = str(workdir / "registry")
    os.environ[f"{ENV_PREFIX}STORAGE__REPORTS_URI"] = str(workdir / "reports")
    os.environ[f"{ENV_PREFIX}STORE__URL"] = f"sqlite:///{workdir / 'store.db'}"


def measure(workdir: Path, rows: int, mode: str) -> dict[str, float]:
    """Run one measurement in a child process so peak memory is its own."""
    command = [sys.executable, __file__, "--child", mode, str(workdir), str(rows)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def child(mode: str, workdir: Path, rows: int) -> None:
    settings = load_settings("local")
    input_uri = str(workdir / f"input-{rows}.csv")
    start = time.perf_counter()
    if mode == "job":
        predict(settings, input_uri=input_uri, output_uri=str(workdir / f"out-{rows}.csv"))
    else:
        model, _ = Registry(settings.storage.registry_uri, settings.model.name).load("local")
        features = data.build_features(data.clean(data.validate_raw(io.read_csv(input_uri))))
        start = time.perf_counter()
        model.predict_proba(features)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows_per_s": rows / seconds, "peak_mib": peak_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000, 400_000])
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DIR", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, workdir, rows = args.child
        child(mode, Path(workdir), int(rows))
        return

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        isolate_outputs(workdir)
        train(load_settings("local"))
        print(
            f"{'rows':>9}  {'job rows/s':>11}  {'raw predict rows/s':>18}  {'ratio':>6}  "
            f"{'job peak MiB':>12}  {'raw peak MiB':>12}"
        )
        for rows in args.rows:
            frame = generate_customers(rows, seed=1, with_label=False)
            io.write_csv(str(workdir / f"input-{rows}.csv"), frame)
            job = measure(workdir, rows, "job")
            raw = measure(workdir, rows, "raw")
            print(
                f"{rows:>9}  {job['rows_per_s']:>11.0f}  {raw['rows_per_s']:>18.0f}  "
                f"{job['rows_per_s'] / raw['rows_per_s']:>6.2f}  "
                f"{job['peak_mib']:>12.0f}  {raw['peak_mib']:>12.0f}"
            )


if __name__ == "__main__":
    main()
