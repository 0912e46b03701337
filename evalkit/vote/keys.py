"""The voting keys and what each vote is called: one list for the terminal app and the web page."""

from __future__ import annotations

from evalkit.vote.votes import SKIP

VOTE_LABELS = {"left": "A is better", "right": "B is better", "tie": "tie", "both_bad": "both bad",
               SKIP: "skipped"}
VOTE_KEYS = {"a": "left", "b": "right", "t": "tie", "x": "both_bad", "s": SKIP}  # key → vote cast
UNDO_KEY = "u"
KEY_LABELS = {"a": "A better", "b": "B better", "t": "tie", "x": "both bad", "s": "skip", "u": "undo"}  # on buttons

KEYS = [
    ("a", "answer A (left) is better"),
    ("b", "answer B (right) is better"),
    ("t", "tie: both equally good"),
    ("x", "both bad"),
    ("s", "skip this pair (it comes back after the others)"),
    ("u", "undo your last vote or skip, and show that pair again"),
    ("tab", "move between prompt, A and B; arrows, PgUp, PgDn scroll"),
    ("?", "this help"),
    ("q", "quit (every vote is already saved)"),
]

# A vote key pressed sooner than this after a pair appears is ignored: a held-down key (auto-repeat)
# or a double press must not cast votes on pairs nobody has read.
MIN_VIEW_S = 0.3
