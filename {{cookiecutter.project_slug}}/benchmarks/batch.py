"""Batch scoring throughput and peak memory as the input grows, from CSV and Parquet.

    uv run python benchmarks/batch.py [--rows 100000 1000000] [--huge] [--formats csv parquet]
{%- if cookiecutter.compute == "ray" %}
    uv run python benchmarks/batch.py --compute ray [--rows 1000000] [--huge]
{%- endif %}

For each size and input format, in a fresh process each: rows/second of the whole
predict job (read, contract, clean, features, predict, contract, write, store updates)
beside raw in-memory `model.outputs` on the same rows, and the peak memory of
each. The job streams its input in chunks (`data.chunk_rows`), so its peak memory
should stay flat as the input grows. `--huge` adds 10 million rows. On a busy
machine wall-clock rates swing with the neighbours' load; the CPU ratio (rows per
CPU-second of the job over those of raw predict) swings less.
{%- if cookiecutter.compute == "ray" %}

`--compute ray` compares the two engines instead: the local engine and the Ray engine
(`predict_ray.py`, a local Ray runtime of `--threads` CPUs, all by default) on the same
inputs, each in a fresh process: rows/second and peak memory. The Ray job's peak memory
is the sum of the peaks of the driver and every process of its Ray runtime (workers,
raylet, object store), an upper bound, as they do not peak at the same moment.
{%- endif %}

Peak memory is the child's own high-water mark of resident memory (VmHWM in
/proc/self/status). Not `ru_maxrss`: Linux carries the parent's high-water mark into
a child across fork and exec, so a child started by a parent that had just generated a
large input reported the parent's peak, not its own. Inputs are generated in a child
process of their own, in blocks, so the parent stays small either way.
"""

import argparse
{%- if cookiecutter.compute == "ray" %}
import contextlib
{%- endif %}
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from {{cookiecutter.package_name}} import data, datagen, io, runtime
{%- if cookiecutter.compute == "ray" %}
from {{cookiecutter.package_name}}.pipelines import predict_ray
{%- endif %}
from {{cookiecutter.package_name}}.pipelines.predict import predict
from {{cookiecutter.package_name}}.pipelines.train import train
from {{cookiecutter.package_name}}.registry import open_registry
from {{cookiecutter.package_name}}.settings import ENV_PREFIX, load_settings

# Rows generated, and scored by raw model.outputs, per block: bounds their memory.
BLOCK_ROWS = 1_000_000
HUGE_ROWS = 10_000_000


def isolate_outputs(workdir: Path, store_url: str | None) -> None:
    """Keep the benchmark's models, reports and store in `workdir`, not artifacts/local."""
    os.environ[f"{ENV_PREFIX}STORAGE__REGISTRY_URI"] = str(workdir / "registry")
    os.environ[f"{ENV_PREFIX}STORAGE__REPORTS_URI"] = str(workdir / "reports")
    os.environ[f"{ENV_PREFIX}STORE__URL"] = store_url or f"sqlite:///{workdir / 'store.db'}"
    os.environ[f"{ENV_PREFIX}LOGGING__LEVEL"] = "WARNING"


def peak_mib() -> float:
    """This process's own peak resident memory in MiB (VmHWM; ru_maxrss where absent)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


{%- if cookiecutter.compute == "ray" %}


def process_peak_mib(pid: int) -> float:
    """The peak resident memory of process `pid` in MiB (0 if it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_peak_mib() -> float:
    """Peak memory of this process and all its descendants (its Ray runtime), summed."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(process_peak_mib(pid) for pid in tree)
{%- endif %}


def run_child(*args: str) -> dict[str, float]:
    """Run one step in a fresh process so its peak memory is its own."""
    command = [sys.executable, __file__, "--child", *args]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def generate(uri: str, rows: int) -> None:
    """Write `rows` generated rows (distinct ids) block by block."""
    with io.table_writer(uri, datagen.generate(0, with_label=False)) as output:
        for seed, start in enumerate(range(0, rows, BLOCK_ROWS), start=1):
            output.write(
                datagen.generate(min(BLOCK_ROWS, rows - start), seed=seed, with_label=False)
            )


def child(mode: str, input_uri: str, rows: int, workdir: Path) -> None:
    settings = load_settings("local")
    runtime.limit_threads(settings.runtime.threads)  # as the command line does
    seconds = cpu_seconds = 0.0
    if mode == "train":
        train(settings)
    elif mode == "generate":
        generate(input_uri, rows)
    elif mode == "job":
        start, cpu_start = time.perf_counter(), time.process_time()
        output_uri = str(workdir / f"out-{rows}{Path(input_uri).suffix}")
        predict(settings, input_uri=input_uri, output_uri=output_uri)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
{%- if cookiecutter.compute == "ray" %}
    elif mode == "ray":
        output_uri = str(workdir / f"out-ray-{rows}{Path(input_uri).suffix}")
        with predict_ray.ray_runtime(settings):  # started before the clock, as a cluster is
            start = time.perf_counter()
            predict_ray.predict(settings, input_uri=input_uri, output_uri=output_uri)
            seconds = time.perf_counter() - start
            peak = tree_peak_mib()
        print(json.dumps({"rows_per_s": rows / seconds, "rows_per_cpu_s": 0.0, "peak_mib": peak}))
        return
{%- endif %}
    else:
        model, _ = open_registry(settings).load("local")
        for chunk in data.stream_raw(input_uri, BLOCK_ROWS):
            features = data.build_features(data.clean(chunk))
            start, cpu_start = time.perf_counter(), time.process_time()
            model.outputs(features)
            seconds += time.perf_counter() - start
            cpu_seconds += time.process_time() - cpu_start
    result = {
        "rows_per_s": rows / seconds if seconds else 0.0,
        "rows_per_cpu_s": rows / cpu_seconds if cpu_seconds else 0.0,
        "peak_mib": peak_mib(),
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--huge", action="store_true", help=f"add {HUGE_ROWS:,} rows")
    parser.add_argument("--threads", type=int, help="runtime.threads (default: the CPUs available)")
    parser.add_argument(
        "--formats", nargs="+", choices=["csv", "parquet"], default=["csv", "parquet"]
    )
    parser.add_argument(
        "--store-url", help="prediction store (default: SQLite in a temporary folder)"
    )
{%- if cookiecutter.compute == "ray" %}
    parser.add_argument(
        "--compute",
        choices=["local", "ray"],
        default="local",
        help="ray: the local engine against the Ray engine (default: local engine alone)",
    )
{%- endif %}
    parser.add_argument(
        "--child", nargs=4, metavar=("MODE", "URI", "ROWS", "DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        mode, uri, rows, workdir = args.child
        child(mode, uri, int(rows), Path(workdir))
        return

    sizes = [*args.rows, *([HUGE_ROWS] if args.huge else [])]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        isolate_outputs(workdir, args.store_url)
        if args.threads:
            os.environ[f"{ENV_PREFIX}RUNTIME__THREADS"] = str(args.threads)
        run_child("train", "", "0", tmp)
{%- if cookiecutter.compute == "ray" %}
        if args.compute == "ray":
            compare_engines(workdir, sizes, args.formats)
            return
{%- endif %}
        print(
            f"{'rows':>10}  {'input':>7}  {'job rows/s':>10}  {'raw predict rows/s':>18}  "
            f"{'ratio':>5}  {'CPU ratio':>9}  {'job peak MiB':>12}  {'raw peak MiB':>12}"
        )
        peaks: dict[str, list[float]] = {}
        for rows in sizes:
            for kind in args.formats:
                uri = str(workdir / f"input-{rows}.{kind}")
                run_child("generate", uri, str(rows), tmp)
                job = run_child("job", uri, str(rows), tmp)
                raw = run_child("raw", uri, str(rows), tmp)
                Path(uri).unlink()
                peaks.setdefault(kind, []).append(job["peak_mib"])
                print(
                    f"{rows:>10}  {kind:>7}  {job['rows_per_s']:>10.0f}  "
                    f"{raw['rows_per_s']:>18.0f}  {job['rows_per_s'] / raw['rows_per_s']:>5.2f}  "
                    f"{job['rows_per_cpu_s'] / raw['rows_per_cpu_s']:>9.2f}  "
                    f"{job['peak_mib']:>12.0f}  {raw['peak_mib']:>12.0f}",
                    flush=True,
                )
        for kind, values in peaks.items():
            growth = ", ".join(f"{value / values[0]:.2f}" for value in values[1:])
            print(f"job peak memory of {kind} input against the smallest size: {growth or 'n/a'}")

{%- if cookiecutter.compute == "ray" %}


def compare_engines(workdir: Path, sizes: list[int], formats: list[str]) -> None:
    """Rows/second and peak memory of the local engine and the Ray engine, per input."""
    print(
        f"{'rows':>10}  {'input':>7}  {'local rows/s':>12}  {'Ray rows/s':>10}  "
        f"{'local peak MiB':>14}  {'Ray peak MiB':>12}"
    )
    for rows in sizes:
        for kind in formats:
            uri = str(workdir / f"input-{rows}.{kind}")
            run_child("generate", uri, str(rows), str(workdir))
            local = run_child("job", uri, str(rows), str(workdir))
            ray = run_child("ray", uri, str(rows), str(workdir))
            Path(uri).unlink()
            print(
                f"{rows:>10}  {kind:>7}  {local['rows_per_s']:>12.0f}  {ray['rows_per_s']:>10.0f}  "
                f"{local['peak_mib']:>14.0f}  {ray['peak_mib']:>12.0f}",
                flush=True,
            )
{%- endif %}


if __name__ == "__main__":
    main()
