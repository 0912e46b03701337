"""Prompt templates are Jinja2 strings in task files (as in lm-evaluation-harness),
rendered with a few filters that benchmarks need for comparable numbers."""

from __future__ import annotations

import re
from functools import lru_cache


def wikitext_detokenize(string: str) -> str:
    """Undo WikiText's word-level tokenisation, exactly as lm-eval's wikitext task does."""
    string = string.replace("s '", "s'")
    string = re.sub(r"/' [0-9]/", r"/'[0-9]/", string)
    for old, new in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" : ", ": "), (" ; ", "; "),
                     (" . ", ". "), (" ! ", "! "), (" ? ", "? "), (" , ", ", ")):
        string = string.replace(old, new)
    string = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", string)
    string = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", string)
    string = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", string)
    string = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', string)
    string = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", string)
    for old, new in (("= = = =", "===="), ("= = =", "==="), ("= =", "=="), (" " + chr(176) + " ", chr(176)),
                     (" \n", "\n"), ("\n ", "\n"), (" N ", " 1 "), (" 's", "'s")):
        string = string.replace(old, new)
    return string


def end_with(string: str, suffix: str) -> str:
    """The string with `suffix` appended unless it already ends so (TruthfulQA closes every
    reference answer with a period, as its own utilities and lm-eval do)."""
    return string if string.endswith(suffix) else string + suffix


FILTERS = {"wikitext_detokenize": wikitext_detokenize, "end_with": end_with}


@lru_cache(maxsize=1)
def environment():
    import jinja2

    # StrictUndefined: a misspelt field is an error, not a silently empty prompt.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters.update(FILTERS)
    return env


@lru_cache(maxsize=256)
def compile_template(source: str):
    return environment().from_string(source)


def render(source: str, row: dict) -> str:
    return compile_template(source).render(**row)


def evaluate(expression: str, row: dict):
    """A Jinja expression that yields a value (a list of choices, an index), not text."""
    return environment().compile_expression(expression, undefined_to_none=False)(**row)
