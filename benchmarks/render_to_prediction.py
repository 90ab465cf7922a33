"""Template timings: the render, and the way from `cookiecutter` to the first served prediction.

Usage (from the template root, inside its dev environment):

    uv run python benchmarks/render_to_prediction.py [--renders 7] [--baseline DIR] [--no-serve]

Prints one table, one row a phase; with ``--baseline DIR`` (another checkout of the
template, e.g. ``git clone -q . /tmp/base && git -C /tmp/base checkout -q <commit>``)
each phase runs for both templates in turn and the table adds the baseline's column and
the ratio, measured in the same run. Every phase is a whole process as a user runs it:

- ``cookiecutter floor``: the same cookiecutter rendering a one-file template without
  hooks or extensions, what any template costs;
- ``render, empty Jinja cache``: a first render (the compiled-template cache lives in the
  temp dir, so each run gets a fresh TMPDIR);
- ``render, warm Jinja cache``: a render after one before it;
- ``make install``: uv sync from a warm uv cache (a plain ``uv sync`` of a throwaway
  render fills it first, uncounted) and the git hook install;
- ``make train``, then ``make serve`` up to the first ``POST /predict`` answered 200.

Renders are the median of ``--renders`` runs, wall and CPU (user + sys of the processes);
the other phases run once. The machine's state the numbers depend on is printed above
the table: whether cookiecutter's own modules have bytecode, and PYTHONDONTWRITEBYTECODE
(set, ``make install`` compiles the whole environment ahead; unset, Python compiles each
module on its first import, during the first ``make train``).
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
SERVE_TIMEOUT = 180.0


def user_env(**extra: str) -> dict[str, str]:
    """The caller's environment without this dev env's virtualenv."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    return {**env, **extra}


def cookiecutter_command() -> list[str]:
    script = Path(sys.executable).with_name("cookiecutter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cookiecutter"]


class Timing:
    """Wall and CPU seconds (user + sys of the child processes) of one run."""

    def __init__(self, wall: float, cpu: float) -> None:
        self.wall, self.cpu = wall, cpu


def run(command: list[str], cwd: Path, env: dict[str, str]) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def render(template: Path, output: Path, env: dict[str, str]) -> Timing:
    output.mkdir(parents=True, exist_ok=True)
    command = [*cookiecutter_command(), str(template), "--no-input", "-o", str(output), "-f"]
    return run(command, output, {**env, "PWD": str(output)})


def floor_template(folder: Path) -> Path:
    """A one-file template: what cookiecutter costs for any template."""
    project = folder / "{{cookiecutter.project_slug}}"
    project.mkdir(parents=True)
    (folder / "cookiecutter.json").write_text('{"project_slug": "trivial"}\n')
    (project / "README.md").write_text("# {{ cookiecutter.project_slug }}\n")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def typed(value: str) -> object:
    """A CSV cell as JSON would carry it: integers and decimals as numbers."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def first_served_prediction(project: Path, env: dict[str, str]) -> Timing:
    """From `make serve` to the first POST /predict answered 200."""
    port = free_port()
    with (project / "data/sample/customers.csv").open(newline="") as sample:
        record = {key: typed(value) for key, value in next(csv.DictReader(sample)).items()}
    record.pop("churned", None)
    body = json.dumps(record).encode()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    server = subprocess.Popen(
        ["make", "serve", f"PORT={port}"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while time.perf_counter() < start + SERVE_TIMEOUT:
            if server.poll() is not None:
                sys.exit(f"`make serve` exited {server.returncode} before answering")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predict",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                    wall = time.perf_counter() - start
                    break
            except urllib.error.HTTPError as error:
                sys.exit(f"POST /predict answered {error.code}: {error.read().decode()}")
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit(f"no prediction served within {SERVE_TIMEOUT:.0f} s")
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the server's, once reaped
    return Timing(wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def median(timings: list[Timing]) -> Timing:
    return Timing(
        statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings)
    )


def in_turn(templates: list[Path], runs: int, once: Callable[[int, Path], Timing]) -> list[Timing]:
    """The median of ``runs`` calls per template, the templates taking turns."""
    results: list[list[Timing]] = [[] for _ in templates]
    for index in range(runs):
        for slot, template in enumerate(templates):
            results[slot].append(once(index, template))
    return [median(timings) for timings in results]


def workflow(template: Path, folder: Path, env: dict[str, str], serve: bool) -> list[Timing]:
    """render → make install → make train → make serve → first prediction, each timed."""
    timings = [render(template, folder, env)]
    project = next(path for path in folder.iterdir() if (path / "Makefile").is_file())
    timings += [run(["make", target], project, env) for target in ("install", "train")]
    serving = project / "src" / project.name.replace("-", "_") / "serving"
    if serve and serving.is_dir():
        timings.append(first_served_prediction(project, env))
    return timings


def has_bytecode(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec else None
    return bool(origin) and Path(importlib.util.cache_from_source(origin)).is_file()


def describe_machine() -> list[str]:
    uv = shutil.which("uv")
    uv_version = ""
    if uv:
        uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True).stdout
    dont_write = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return [
        f"cookiecutter {importlib.metadata.version('cookiecutter')}, "
        f"Jinja {importlib.metadata.version('jinja2')}, Python {platform.python_version()}, "
        f"{uv_version.strip() or 'uv not found'}, {os.cpu_count()} CPUs",
        "cookiecutter's modules have bytecode: "
        + ("yes" if has_bytecode("cookiecutter.main") else "no (each render compiles them)"),
        f"PYTHONDONTWRITEBYTECODE: {dont_write or 'unset'}",
    ]


def table(names: list[str], rows: list[tuple[str, list[Timing | None]]]) -> str:
    def cell(timing: Timing | None) -> str:
        return "-" if timing is None else f"{timing.wall:7.2f} {timing.cpu:6.2f}"

    width = max(len(name) for name, _ in rows)
    head = f"{'phase':<{width}}  " + "  ".join(f"{name + ' wall cpu':>14}" for name in names)
    if len(names) == 2:
        head += "  wall ratio"
    lines = [head, "-" * len(head)]
    for name, timings in rows:
        line = f"{name:<{width}}  " + "  ".join(f"{cell(t):>14}" for t in timings)
        if len(timings) == 2 and all(timings):
            line += f"  {timings[0].wall / timings[1].wall:10.2f}"  # type: ignore[union-attr]
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=7, help="renders per median")
    parser.add_argument("--baseline", type=Path, help="another checkout of the template")
    parser.add_argument("--no-serve", action="store_true", help="stop after make train")
    args = parser.parse_args()
    templates = [TEMPLATE] + ([args.baseline.resolve()] if args.baseline else [])
    names = ["this"] + (["baseline"] if args.baseline else [])
    env = user_env()
    rows: list[tuple[str, list[Timing | None]]] = []
    with tempfile.TemporaryDirectory(prefix="render-bench-") as tmp:
        root = Path(tmp)
        trivial = floor_template(root / "floor")
        render(trivial, root / "floor-warm", env)
        floor = median([render(trivial, root / f"floor-{i}", env) for i in range(args.renders)])
        rows.append(("cookiecutter floor (one-file template)", [floor] * len(names)))

        def cold(index: int, template: Path) -> Timing:
            tmpdir = root / f"tmp-cold-{templates.index(template)}-{index}"
            tmpdir.mkdir()
            out = root / f"cold-{templates.index(template)}-{index}"
            return render(template, out, {**env, "TMPDIR": str(tmpdir)})

        warm_tmp = [root / f"tmp-warm-{slot}" for slot in range(len(templates))]
        for slot, template in enumerate(templates):
            warm_tmp[slot].mkdir()
            render(template, root / f"warmup-{slot}", {**env, "TMPDIR": str(warm_tmp[slot])})

        def warm(index: int, template: Path) -> Timing:
            slot = templates.index(template)
            out = root / f"warm-{slot}-{index}"
            return render(template, out, {**env, "TMPDIR": str(warm_tmp[slot])})

        cold_renders = in_turn(templates, args.renders, cold)
        warm_renders = in_turn(templates, args.renders, warm)
        rows.append((f"render, empty Jinja cache (median of {args.renders})", cold_renders))
        rows.append((f"render, warm Jinja cache (median of {args.renders})", warm_renders))
        rows.append(
            (
                "render, warm, minus the floor",
                [Timing(t.wall - floor.wall, t.cpu - floor.cpu) for t in warm_renders],
            )
        )

        # Fill uv's cache from the lock file, uncounted: the phases below assume it warm.
        project = next(p for p in (root / "warmup-0").iterdir() if p.is_dir())
        run(["uv", "sync", "-q"], project, env)
        chains = [
            workflow(template, root / f"workflow-{slot}", env, not args.no_serve)
            for slot, template in enumerate(templates)
        ]
        phases = ["render (workflow)", "make install", "make train", "make serve → 200 /predict"]
        for position, phase in enumerate(phases[: max(len(chain) for chain in chains)]):
            rows.append((phase, [c[position] if position < len(c) else None for c in chains]))
        total = [Timing(sum(t.wall for t in c), sum(t.cpu for t in c)) for c in chains]
        last = "first served prediction" if len(chains[0]) == 4 else "trained model"
        rows.append((f"render → {last}, total", total))

    print("\n".join(describe_machine()))
    print(table(names, rows))


if __name__ == "__main__":
    main()
