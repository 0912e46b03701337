"""Two texts with the spans where they differ marked, word by word, as HTML."""

from __future__ import annotations

import difflib
import re

from markupsafe import Markup, escape

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
MAX_COMPARED_TOKENS = 4000  # past this the texts are shown unmarked: a quadratic match would stall the page


def tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


def marked(text_a: str, text_b: str) -> tuple[Markup, Markup]:
    """(a, b) as HTML with each side's differing spans in <mark>; equal texts come back unmarked."""
    a, b = tokens(text_a), tokens(text_b)
    if text_a == text_b or len(a) + len(b) > MAX_COMPARED_TOKENS:
        return escape(text_a), escape(text_b)
    out_a, out_b = [], []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        part_a, part_b = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if op == "equal":
            out_a.append(part_a)
            out_b.append(part_b)
            continue
        if part_a:
            out_a.append(Markup('<mark class="del">{}</mark>').format(part_a))
        if part_b:
            out_b.append(Markup('<mark class="ins">{}</mark>').format(part_b))
    return Markup("").join(out_a), Markup("").join(out_b)
