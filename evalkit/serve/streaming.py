"""A reply's text as it is generated: deltas of the decoded tokens, holding back what is not final yet.

A client-facing stream must never send text the finished reply will not hold. Two things are not final
while tokens still arrive: a tail that could be the start of a stop string (the finished text is cut
where a stop begins), and a tail of incomplete UTF-8 (a character split over tokens decodes as U+FFFD
until its last byte arrives). The tokens so far are decoded whole each time (a few hundred at most),
so a tokenizer's merging of neighbouring pieces comes out as in the finished text.
"""

from __future__ import annotations

from collections.abc import Sequence

REPLACEMENT = "\ufffd"


class IncrementalText:
    def __init__(self, tokenizer, stops: Sequence[str] = (), prefix: str = ""):
        self.tokenizer, self.stops, self.prefix = tokenizer, tuple(s for s in stops if s), prefix
        self.ids: list[int] = []
        self.sent = ""  # text already sent: always a prefix of the finished text
        self.stopped = False  # a stop string appeared: nothing more is sent before the end

    def add(self, token: int) -> str:
        """The text that became final with this token ('' while it is held back)."""
        self.ids.append(token)
        if self.stopped:
            return ""
        text = self.prefix + self.tokenizer.decode(self.ids, skip_special_tokens=True)
        final = len(text.rstrip(REPLACEMENT))
        for stop in self.stops:
            at = text.find(stop, len(self.prefix))
            if at >= 0:
                self.stopped, final = True, min(final, at)
            else:
                final = min(final, len(text) - _partial_stop(text, stop))
        return self._send(text[:final])

    def finish(self, text: str) -> str:
        """What is left to send of the finished text (the reply's own, cut at its stop)."""
        return text[len(self.sent):] if text.startswith(self.sent) else ""

    def _send(self, upto: str) -> str:
        if len(upto) <= len(self.sent) or not upto.startswith(self.sent):
            return ""
        delta, self.sent = upto[len(self.sent):], upto
        return delta


def _partial_stop(text: str, stop: str) -> int:
    """Length of the longest tail of `text` that is a proper beginning of `stop`."""
    for size in range(min(len(stop) - 1, len(text)), 0, -1):
        if stop.startswith(text[-size:]):
            return size
    return 0
