"""MkDocs hook: generate the option pages from the template itself, so they cannot go stale.

For every prompt in cookiecutter.json this writes ``options/<key>.md``: the question,
the values with their labels and the default (cookiecutter.json), the files each value
adds to the project (``PER_OPTION`` / ``PER_ENVIRONMENT`` in tests/expected.py, the list
the tests hold every rendered project to) and the files it removes (``PRUNE`` in
hooks/post_gen_project.py), followed by the hand-written explanation in
``docs/_options/<key>.md``. ``options/index.md`` is the summary table. A prompt without
an explanation fails the build.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import types
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
DOCS_DIR = Path(__file__).resolve().parent
PROSE_DIR = DOCS_DIR / "_options"
NAV_TITLE = "Options"
# Derived prompts are explained on the page of the prompt they come from.
FREE_TEXT_PAGE = "names"
FREE_TEXT = (
    "project_name",
    "project_slug",
    "package_name",
    "description",
    "author_name",
    "author_email",
    "github_owner",
)
ANSWERS_EXPRESSION = "{{ cookiecutter | jsonify }}"

log = logging.getLogger("mkdocs.hooks.options")


def _cookiecutter() -> dict:
    return json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))


def _module(path: Path, source: str | None = None) -> types.ModuleType:
    """Import a template file as a module (a hook with its Jinja answers filled in)."""
    module = types.ModuleType(path.stem)
    module.__file__ = str(path)
    code = source if source is not None else path.read_text(encoding="utf-8")
    exec(compile(code, str(path), "exec"), module.__dict__)
    return module


def _expected() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("expected", TEMPLATE_DIR / "tests/expected.py")
    if spec is None or spec.loader is None:
        raise PluginError("tests/expected.py cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prune() -> dict[tuple[str, str], list[str]]:
    path = TEMPLATE_DIR / "hooks/post_gen_project.py"
    source = path.read_text(encoding="utf-8").replace(ANSWERS_EXPRESSION, "{}")
    return _module(path, source).PRUNE


def option_keys() -> list[str]:
    """One page per prompt with choices (and environments); free text shares one page."""
    context = _cookiecutter()
    choices = [key for key, value in context.items() if isinstance(value, list)]
    keys = [key for key in context if not key.startswith("_") and key not in FREE_TEXT]
    return [key for key in keys if key in choices or key == "environments"]


def _label(prompts: dict, key: str, value: str) -> str:
    prompt = prompts.get(key)
    return prompt.get(value, value) if isinstance(prompt, dict) else value


def _question(prompts: dict, key: str) -> str:
    prompt = prompts.get(key, key)
    return prompt.get("__prompt__", key) if isinstance(prompt, dict) else prompt


def _file_list(paths: list[str]) -> str:
    return ", ".join(f"`{path}`" for path in sorted(paths)) if paths else "—"


def _prose(key: str) -> str:
    path = PROSE_DIR / f"{key}.md"
    if not path.is_file():
        raise PluginError(f"cookiecutter.json prompt {key!r} has no explanation: write {path}")
    return path.read_text(encoding="utf-8").strip()


def option_page(key: str) -> str:
    context = _cookiecutter()
    prompts = context.get("__prompts__", {})
    adds = _expected().PER_OPTION
    prune = _prune()
    lines = [f"# `{key}`", "", f"> {_question(prompts, key)}", ""]
    if key == "environments":
        lines += [
            f"Free text, default `{context[key]}`. Every environment gets its own copy of:",
            "",
            *[f"- `{path}`" for path in _expected().PER_ENVIRONMENT],
        ]
    else:
        values = context[key]
        lines += [
            "| value | meaning | adds | removes |",
            "|---|---|---|---|",
        ]
        for index, value in enumerate(values):
            shown = f"`{value}` (default)" if index == 0 else f"`{value}`"
            lines.append(
                f"| {shown} | {_label(prompts, key, value)} "
                f"| {_file_list(adds.get((key, value), []))} "
                f"| {_file_list(prune.get((key, value), []))} |"
            )
    lines += [
        "",
        "`{pkg}` stands for the package name. Files a value does not list are shared by",
        "every value; their content may still differ (below).",
        "",
        _prose(key),
        "",
    ]
    return "\n".join(lines)


def names_page() -> str:
    context = _cookiecutter()
    prompts = context.get("__prompts__", {})
    lines = ["# Names and metadata", "", "| prompt | question | default |", "|---|---|---|"]
    for key in FREE_TEXT:
        default = str(context[key]).replace("|", "\\|")
        lines.append(f"| `{key}` | {_question(prompts, key)} | `{default}` |")
    lines += ["", _prose(FREE_TEXT_PAGE), ""]
    return "\n".join(lines)


def index_page() -> str:
    context = _cookiecutter()
    prompts = context.get("__prompts__", {})
    lines = [
        "# Options",
        "",
        "Generated from `cookiecutter.json`: every prompt, its values (the first is the",
        "default) and its page.",
        "",
        "| prompt | values | question |",
        "|---|---|---|",
        f"| [names and metadata]({FREE_TEXT_PAGE}.md) | free text | "
        + ", ".join(f"`{key}`" for key in FREE_TEXT)
        + " |",
    ]
    for key in option_keys():
        values = context[key] if isinstance(context[key], list) else [context[key]]
        shown = ", ".join(f"`{value}`" for value in values)
        lines.append(f"| [`{key}`]({key}.md) | {shown} | {_question(prompts, key)} |")
    return "\n".join([*lines, ""])


def pages() -> dict[str, str]:
    generated = {"options/index.md": index_page(), f"options/{FREE_TEXT_PAGE}.md": names_page()}
    generated |= {f"options/{key}.md": option_page(key) for key in option_keys()}
    return generated


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Point the nav's Options entry at the generated pages."""
    entries = ["options/index.md", f"options/{FREE_TEXT_PAGE}.md"]
    entries += [f"options/{key}.md" for key in option_keys()]
    for item in config.nav or []:
        if isinstance(item, dict) and NAV_TITLE in item:
            item[NAV_TITLE] = entries
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for uri, content in pages().items():
        files.append(File.generated(config, uri, content=content))
    log.debug("generated %d option pages", len(option_keys()))
    return files
