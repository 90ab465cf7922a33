"""Jinja extension cookiecutter loads for this template (``_extensions`` in cookiecutter.json).

Cookiecutter renders every answer given on the command line (``key=value``) or in a
user config's ``default_context`` as a Jinja template while it prompts, before any hook
runs: an answer such as ``{{`` stopped it with a raw ``TemplateSyntaxError``. ``Answers``
passes an answer that is not a template of the other answers (it does not parse, or
it does not name ``cookiecutter`` alone) through as its literal text, so
hooks/pre_gen_project.py sees it and refuses it with a message naming the field.
Templates of other answers (``{{ cookiecutter.project_name | slugify }}``, the
defaults in cookiecutter.json) render as before.

It also adds the ``quoted`` filter: the text as one double-quoted string that JSON, TOML
and YAML all read back unchanged (``jsonify`` writes characters outside the BMP as
surrogate pairs, which TOML refuses and YAML reads as two broken characters).

Compiling the template files is most of a render's own time, so the extension gives the
environment Jinja's bytecode cache (``CompiledTemplates``): a file's compiled code is
kept in Jinja's per-user cache folder under the system temp dir and reused while the
file's text, Jinja and the environment's settings stay the same; anything else compiles
afresh.
"""

from __future__ import annotations

import hashlib
import json

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, TemplateSyntaxError, meta
from jinja2.bccache import Bucket
from jinja2.ext import Extension

# The one name an answer may refer to (``{{ cookiecutter.author_name }}``).
CONTEXT_NAME = "cookiecutter"
TEMPLATE_MARKERS = ("{{", "{%", "{#")


def literal(text: str) -> str:
    """A Jinja template that renders to ``text`` exactly."""
    # Jinja decodes string literals with "unicode-escape" after escaping non-ASCII
    # characters, so JSON escapes with the characters themselves left as they are.
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}"


def quoted(value: object) -> str:
    """``value`` as a double-quoted string valid in JSON, TOML and YAML."""
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


# Settings that change what a template source compiles to.
COMPILE_SETTINGS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "autoescape",
)


def compile_fingerprint(environment: Environment) -> str:
    """What besides the source decides the compiled code: Jinja, settings, extensions."""
    settings = [repr(getattr(environment, name, None)) for name in COMPILE_SETTINGS]
    return "\0".join([jinja2.__version__, *settings, *sorted(environment.extensions)])


class CompiledTemplates(FileSystemBytecodeCache):
    """Jinja's file bytecode cache, valid for one source under one fingerprint."""

    def __init__(self) -> None:
        super().__init__(pattern="__cookiecutter_%s.cache")

    def get_bucket(
        self, environment: Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        digest = hashlib.sha256(compile_fingerprint(environment).encode()).hexdigest()
        return super().get_bucket(environment, name, filename, f"{digest}\0{source}")


class Answers(Extension):
    """Literal answers for text that is not a template; the ``quoted`` filter."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["quoted"] = quoted
        if environment.bytecode_cache is None:
            environment.bytecode_cache = CompiledTemplates()
        self._parsing = False

    def is_answer_template(self, text: str) -> bool:
        """Whether ``text`` is a Jinja template of the answers rather than plain text."""
        self._parsing = True  # parse() preprocesses too
        try:
            tree = self.environment.parse(text)
        except TemplateSyntaxError:
            return False
        finally:
            self._parsing = False
        return meta.find_undeclared_variables(tree) == {CONTEXT_NAME}

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        # Template files are loaded by name; answers, paths and hooks come as strings.
        if self._parsing or name is not None:
            return source
        if not any(marker in source for marker in TEMPLATE_MARKERS):
            return source
        return source if self.is_answer_template(source) else literal(source)
