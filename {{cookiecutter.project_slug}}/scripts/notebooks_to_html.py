"""Execute notebooks, export them to HTML reports and strip their outputs.

The notebooks under notebooks/ are committed without outputs; what they show is committed
next to them as HTML, under reports/notebooks/ with the same relative path
(notebooks/churn/explore.ipynb -> reports/notebooks/churn/explore.html), so reviewers can
read the results without running anything.

For each notebook: execute it with the project's kernel (working directory: the notebook's
folder), export the executed copy to HTML, then strip the outputs and execution counts
from the notebook itself. A notebook whose report was built from the same code is not
executed again (only stripped); a notebook already stripped that has no report yet (never
run, like the example of a fresh project) is left alone unless --force is given. A notebook
that raises stops with its name, the failing cell and the error; its notebook and report
are left as they were.

Usage:
    python scripts/notebooks_to_html.py [NOTEBOOK ...]   # the given notebooks
    python scripts/notebooks_to_html.py                  # changed since HEAD, plus untracked
    python scripts/notebooks_to_html.py --all --force    # every notebook (make notebooks)

Exit status: 0 done, 3 a notebook failed, and with --exit-non-zero-on-change (the
pre-commit hook) 1 when files were written, so the commit stops until they are staged.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbconvert import HTMLExporter
from nbconvert.filters import strip_ansi
from nbformat import NotebookNode
from nbstripout import strip_output  # type: ignore[import-untyped]
from traitlets.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORTS_DIR = PROJECT_ROOT / "reports" / "notebooks"

# The kernel that ships with the project environment (ipykernel), whatever kernel the
# notebook was last saved with: reports always come from the code in uv.lock.
KERNEL_NAME = "python3"
DEFAULT_TIMEOUT = 600
STARTUP_TIMEOUT = 120

# What `nbstripout` removes by default, so its hook finds nothing left to strip.
STRIPPED_METADATA = [
    "metadata.signature",
    "metadata.widgets",
    "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime",
    "cell.metadata.execution",
    "cell.metadata.heading_collapsed",
    "cell.metadata.hidden",
    "cell.metadata.scrolled",
]

# Each report records a hash of the code it was built from (cell types and sources).
SOURCE_META = "notebook-source-sha256"
SOURCE_META_PATTERN = re.compile(rf'<meta name="{SOURCE_META}" content="([0-9a-f]{{64}})"')

EXIT_CHANGED = 1
EXIT_FAILED = 3


class NotebookError(Exception):
    """A notebook could not be read or executed; the message says where and why."""


def relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


def report_path(notebook: Path) -> Path:
    """reports/notebooks/<path below notebooks/>.html"""
    return (REPORTS_DIR / notebook.resolve().relative_to(NOTEBOOKS_DIR)).with_suffix(".html")


def source_digest(notebook: NotebookNode) -> str:
    """Hash of what the notebook runs: cell types and sources, not outputs or metadata."""
    cells = [[cell.cell_type, cell.source] for cell in notebook.cells]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def recorded_digest(report: Path) -> str | None:
    if not report.is_file():
        return None
    match = SOURCE_META_PATTERN.search(report.read_text(encoding="utf-8"))
    return match.group(1) if match else None


def stripped(notebook: NotebookNode) -> NotebookNode:
    clean: NotebookNode = strip_output(
        copy.deepcopy(notebook),
        keep_output=False,
        keep_count=False,
        keep_id=False,
        extra_keys=STRIPPED_METADATA,
    )
    return clean


def serialise(notebook: NotebookNode) -> str:
    text: str = nbformat.writes(notebook)
    return text + "\n"


def read_notebook(path: Path) -> tuple[str, NotebookNode]:
    try:
        text = path.read_text(encoding="utf-8")
        return text, nbformat.reads(text, as_version=4)  # older formats are upgraded
    except (OSError, UnicodeDecodeError, nbformat.reader.NotJSONError) as error:
        raise NotebookError(f"{relative(path)}: not a readable notebook: {error}") from None


def execute(notebook: NotebookNode, path: Path, timeout: int) -> NotebookNode:
    """Run every cell in a fresh kernel; raise NotebookError naming the failing cell."""
    executed = copy.deepcopy(notebook)
    deadline = time.monotonic() + timeout
    started: list[int] = []
    try:
        with tempfile.TemporaryDirectory(prefix="notebook-kernel-") as sockets:
            NotebookClient(
                executed,
                kernel_name=KERNEL_NAME,
                startup_timeout=STARTUP_TIMEOUT,
                # One budget for the whole notebook: each cell gets what is left of it.
                timeout_func=lambda _cell: max(1, int(deadline - time.monotonic())),
                on_cell_execute=lambda cell, cell_index: started.append(cell_index),
                resources={"metadata": {"path": str(path.parent)}},
                config=kernel_config(Path(sockets)),
            ).execute()
    except CellTimeoutError:
        problem = f"did not finish within the notebook timeout of {timeout} s"
    except CellExecutionError as error:
        problem = f"raised {error.ename}: {strip_ansi(error.evalue)}"
    except RuntimeError as error:  # the kernel died or did not start
        raise NotebookError(f"{relative(path)}: the kernel failed: {error}") from None
    else:
        return executed
    if not started:
        raise NotebookError(f"{relative(path)}: {problem}")
    cell = executed.cells[started[-1]]
    source = "\n".join(f"    | {line}".rstrip() for line in cell.source.splitlines())
    raise NotebookError(f"{relative(path)}: cell {started[-1] + 1} {problem}\n{source}")


def kernel_config(socket_dir: Path) -> Config:
    """Talk to the kernel over Unix sockets in a private folder where they exist (plain
    TCP on localhost is readable by other local users, and ipykernel warns about it)."""
    if os.name != "posix":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(socket_dir / "kernel")}})


def to_html(notebook: NotebookNode, title: str, digest: str) -> str:
    html, _ = HTMLExporter().from_notebook_node(notebook, resources={"metadata": {"name": title}})
    html = html.replace("<head>", f'<head>\n<meta name="{SOURCE_META}" content="{digest}">\n', 1)
    # Trailing blanks are invisible in HTML; without them the whitespace and end-of-file
    # hooks leave committed reports alone.
    return "\n".join(line.rstrip() for line in html.splitlines()) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file next to ``path``, then move it into place (same mode)."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        temporary.chmod(mode)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def process(path: Path, *, force: bool, timeout: int) -> list[Path]:
    """Bring one notebook and its report up to date; return the files written."""
    text, notebook = read_notebook(path)
    clean = stripped(notebook)
    clean_text = serialise(clean)
    report = report_path(path)
    digest = source_digest(notebook)
    previous = recorded_digest(report)
    unstripped = clean_text != text

    written: list[Path] = []
    # Execute when the report is missing or stale and the notebook was run (it carries
    # outputs) or had a report before. A stripped notebook without a report was never
    # run: it waits for --force (make notebooks) instead of failing every commit.
    if force or (previous != digest and (unstripped or previous is not None)):
        executed = execute(clean, path, timeout)
        write_atomic(report, to_html(executed, path.stem, digest))
        written.append(report)
    if unstripped:
        write_atomic(path, clean_text)
        written.append(path)
    return written


def git_lines(*args: str) -> list[str]:
    result = subprocess.run(
        ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise NotebookError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return [line for line in result.stdout.splitlines() if line]


def changed_notebooks() -> list[Path]:
    """Notebooks added or modified since HEAD (every tracked one before the first commit),
    plus untracked ones that git does not ignore."""
    scope = ["--", "notebooks/*.ipynb"]
    try:
        names = git_lines("diff", "--name-only", "--diff-filter=AM", "HEAD", *scope)
    except NotebookError:
        names = git_lines("ls-files", *scope)
    names += git_lines("ls-files", "--others", "--exclude-standard", *scope)
    return [PROJECT_ROOT / name for name in sorted(set(names))]


def all_notebooks() -> list[Path]:
    return sorted(
        path
        for path in NOTEBOOKS_DIR.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.relative_to(NOTEBOOKS_DIR).parts
    )


def select(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Path]:
    if args.all:
        if args.notebooks:
            parser.error("give notebooks or --all, not both")
        return all_notebooks()
    if not args.notebooks:
        return changed_notebooks()
    paths = [Path(name) for name in args.notebooks]
    for path in paths:
        if path.suffix != ".ipynb":
            parser.error(f"{path}: not a notebook (.ipynb)")
        if not path.resolve().is_relative_to(NOTEBOOKS_DIR):
            parser.error(f"{path}: only notebooks under {relative(NOTEBOOKS_DIR)}/ are reported")
        if not path.is_file():
            parser.error(f"{path}: no such notebook")
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Execute notebooks, write HTML reports to reports/notebooks/, strip outputs."
    )
    parser.add_argument("notebooks", nargs="*", help="notebooks (default: changed since HEAD)")
    parser.add_argument("--all", action="store_true", help="every notebook under notebooks/")
    parser.add_argument(
        "--force", action="store_true", help="execute even when the report is up to date"
    )
    parser.add_argument(
        "--exit-non-zero-on-change",
        action="store_true",
        help="exit 1 when a notebook or report was written (pre-commit: stage and commit again)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        help=f"seconds allowed per notebook (default {DEFAULT_TIMEOUT})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    try:
        notebooks = select(parser, args)
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED

    written: list[Path] = []
    failed: list[str] = []
    for path in notebooks:
        print(f"{relative(path)} ...", flush=True)
        try:
            outputs = process(path, force=args.force, timeout=args.timeout)
        except NotebookError as error:
            failed.append(str(error))
            continue
        for output in outputs:
            print(f"  wrote {relative(output)}")
        written.extend(outputs)

    if written and args.exit_non_zero_on_change:
        print("Notebooks were stripped and/or reports written: stage them and commit again")
        print(f"  git add {' '.join(sorted(relative(path) for path in written))}")
    for message in failed:
        print(f"\nerror: {message}", file=sys.stderr)
    if failed:
        print(
            f"\n{len(failed)} notebook(s) failed; their notebooks and reports were not changed.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_CHANGED if written and args.exit_non_zero_on_change else 0


if __name__ == "__main__":
    sys.exit(main())
