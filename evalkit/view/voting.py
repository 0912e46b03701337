"""The web voting page: the same pairs, order, sides and keys as `evalkit vote`, writing the same table.

The pair, its left/right order and its priority come from evalkit.vote.pairs (PairPicker, read from the
store on every request, so votes from the terminal app and other browsers count at once); a vote is
written by evalkit.vote.votes.cast_once, which refuses a second vote by one annotator on one pair in
the same transaction as the write. Annotators are known only by the token the owner gave them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from markdown_it import MarkdownIt
from markupsafe import Markup

from evalkit.errors import EvalkitError
from evalkit.store import Store
from evalkit.view import annotators
from evalkit.vote import votes as vote_store
from evalkit.vote.keys import KEY_LABELS, KEYS, MIN_VIEW_S, UNDO_KEY, VOTE_KEYS, VOTE_LABELS
from evalkit.vote.pairs import Candidate, PairPicker, candidates
from evalkit.vote.sources import ANSWERS_COMMAND, judge_verdicts, stored_answers
from evalkit.vote.votes import Matchup

NO_TOKEN = ("voting needs your own link: ask the owner of this evalkit project for one "
            "(`evalkit view --add-annotator NAME` makes it)")
WEB_KEYS = [(key, does) for key, does in KEYS if key in VOTE_KEYS or key == UNDO_KEY]


def markdown(text: str) -> Markup:
    """Prompt and answers rendered as Markdown, as the terminal app shows them (raw HTML stays text)."""
    return Markup(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))


class Forbidden(EvalkitError):
    """A vote or voting page without a known token."""


@dataclass
class WebVoting:
    store: Store
    store_path: Path
    render: Callable[..., str]  # Site.render
    seed: int = 0
    prompt_set: str | None = None
    # signs which model is on which side, so the page never names the models (the pairs are anonymous);
    # a page drawn before a restart is answered with the next pair
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def sides(self, matchup: Matchup) -> str:
        text = "\x00".join((matchup.prompt_set, matchup.prompt_id, matchup.model_left, matchup.model_right))
        return hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def annotator(self, token: str) -> str:
        if not token:
            raise Forbidden(f"no token: {NO_TOKEN}")
        name = annotators.annotator(self.store_path, token)
        if name is None:
            raise Forbidden(f"this token is not known (mistyped, or replaced by a newer link): {NO_TOKEN}")
        return name

    def pool(self) -> list[Candidate]:
        return candidates(stored_answers(self.store, prompt_set=self.prompt_set))

    def picker(self, annotator: str, pool: list[Candidate]) -> PairPicker:
        return PairPicker(self.store, annotator, pool, judge_verdicts(self.store, self.prompt_set), seed=self.seed)

    def page_url(self, token: str, said: str, undone: int | None = None) -> str:
        return "vote?" + urlencode({k: v for k, v in (("token", token), ("said", said), ("undone", undone)) if v})

    def page(self, token: str, said: str = "", undone: str = "") -> str:
        name = self.annotator(token)
        pool = self.pool()
        if not pool:
            raise EvalkitError(f"nothing to vote on yet: no two models answered the same prompt; the owner "
                               f"generates answers with `{ANSWERS_COMMAND}`")
        picker = self.picker(name, pool)
        again = vote_store.by_id(self.store, int(undone)) if undone.isdigit() else None
        matchup = picker.matchup_for(again) if again is not None and again.annotator == name else None
        matchup = matchup or picker.next()
        return self.render("vote.html", title="Vote", annotator=name, token=token, said=said, matchup=matchup,
                           progress=picker.progress(), keys=WEB_KEYS, vote_keys=VOTE_KEYS, labels=KEY_LABELS,
                           min_view_ms=int(MIN_VIEW_S * 1000), sha=vote_store.text_sha, markdown=markdown,
                           sides=self.sides(matchup) if matchup else "")

    def submit(self, form: dict[str, str]) -> tuple[str, str, int | None]:
        """Cast (or undo) what the form says; returns (token, what to tell the annotator, undone vote id)."""
        token = form.get("token", "")
        name = self.annotator(token)
        choice = form.get("vote", "")
        if choice == "undo":
            undone = vote_store.undo_last(self.store, name)
            if undone is None:
                return token, "nothing to undo", None
            return token, f"undid #{undone.id} ({VOTE_LABELS[undone.winner]})", undone.id
        if choice not in VOTE_LABELS:
            raise EvalkitError(f"unknown vote {choice!r}; the page sends one of {', '.join(VOTE_LABELS)} or undo")
        matchup = self._matchup(form)
        if matchup is None:
            return token, ("those answers changed, or the view restarted, since the page was drawn; vote on the "
                           "pair below"), None
        vote_id = vote_store.cast_once(self.store, name, matchup, choice)
        if vote_id is None:
            return token, "you already voted on that pair (in another window); it counts once", None
        return token, f"saved #{vote_id}: {VOTE_LABELS[choice]}", None

    def _matchup(self, form: dict[str, str]) -> Matchup | None:
        """The pair the form was drawn with, in its order, if its answers are still the stored ones."""
        for candidate in self.pool():
            if (candidate.prompt_set, candidate.prompt_id) != (form.get("prompt_set"), form.get("prompt_id")):
                continue
            answer = {candidate.model_x: candidate.answer_x, candidate.model_y: candidate.answer_y}
            for left, right in ((candidate.model_x, candidate.model_y), (candidate.model_y, candidate.model_x)):
                matchup = Matchup(candidate.prompt_set, candidate.prompt_id, candidate.prompt, left, right,
                                  answer[left], answer[right])
                if not hmac.compare_digest(self.sides(matchup), form.get("sides", "")):
                    continue
                if (vote_store.text_sha(answer[left]), vote_store.text_sha(answer[right])) != (
                        form.get("sha_left"), form.get("sha_right")):
                    return None
                return matchup
        return None
