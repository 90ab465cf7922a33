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
"""

from __future__ import annotations

import json

from jinja2 import Environment, TemplateSyntaxError, meta
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


class Answers(Extension):
    """Literal answers for text that is not a template; the ``quoted`` filter."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["quoted"] = quoted
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
