"""`evalkit vote`: the Textual app. A prompt on top, two anonymised answers side by side.

Each key press that votes commits the vote before the next pair is drawn, so the
store, not the app, holds the state: a killed app restarts where it stopped.
"""

from __future__ import annotations

import time

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Header, Markdown, Static

from evalkit.store.db import Store
from evalkit.vote import votes as vote_store
from evalkit.vote.keys import KEYS, MIN_VIEW_S, VOTE_LABELS
from evalkit.vote.pairs import PairPicker
from evalkit.vote.votes import Matchup

HELP_TEXT = "\n".join(
    ["[b]Keys[/b]", ""] + [f"  [b]{key:<4}[/b] {does}" for key, does in KEYS]
    + ["", "A and B are two models' answers in a random order. Judge which one serves",
       "the prompt better, not which is longer.", "", "[dim]Press any key to close.[/dim]"])


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help { width: 80; max-width: 95%; height: auto; border: round $accent; background: $surface;
            padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(HELP_TEXT, id="help")

    def on_key(self, event) -> None:
        event.stop()
        self.dismiss()


class VoteApp(App[None]):
    TITLE = "evalkit vote"
    CSS = """
    #prompt { height: auto; max-height: 35%; border: round $secondary; padding: 0 1; }
    #answers { height: 1fr; }
    .answer { width: 1fr; height: 100%; border: round $primary; padding: 0 1; }
    .answer:focus, #prompt:focus { border: round $accent; }
    #done { height: 1fr; content-align: center middle; text-align: center; display: none; }
    #status { height: 2; padding: 0 1; background: $boost; }
    Markdown { margin: 0; padding: 0; }
    /* No blank line above a leading heading or below the last block: every row counts at 100x30. */
    Markdown > MarkdownHeader:first-child { margin: 0 0 1 0; }
    Markdown > MarkdownParagraph:last-child { margin: 0; }
    """
    BINDINGS = [
        Binding("a", "vote('left')", "A better"),
        Binding("b", "vote('right')", "B better"),
        Binding("t", "vote('tie')", "Tie"),
        Binding("x", "vote('both_bad')", "Both bad"),
        Binding("s", "vote('skip')", "Skip"),
        Binding("u", "undo", "Undo"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, store: Store, annotator: str, picker: PairPicker, order_note: str,
                 min_view_s: float = MIN_VIEW_S):
        super().__init__()
        self.store, self.annotator, self.picker = store, annotator, picker
        self.order_note = order_note  # how pairs are prioritised, and what is missing for it
        self.min_view_s = min_view_s
        self.current: Matchup | None = None
        self.shown_at = 0.0
        self.last_action = ""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="⚖")
        with VerticalScroll(id="prompt"):
            yield Markdown(id="prompt-text", open_links=False)
        with Horizontal(id="answers"):
            with VerticalScroll(id="left", classes="answer"):
                yield Markdown(id="left-text", open_links=False)
            with VerticalScroll(id="right", classes="answer"):
                yield Markdown(id="right-text", open_links=False)
        yield Static(id="done")
        yield Static(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = f"annotator: {self.annotator}"
        self.query_one("#left").border_title = "A"
        self.query_one("#right").border_title = "B"
        await self.show(self.picker.next())
        self.query_one("#left").focus()

    async def show(self, matchup: Matchup | None) -> None:
        """Draw a matchup (or the all-done message) and refresh the progress line."""
        self.current, self.shown_at = matchup, time.monotonic()
        done = matchup is None
        for selector in ("#prompt", "#answers"):
            self.query_one(selector).display = not done
        self.query_one("#done").display = done
        if matchup is not None:
            self.query_one("#prompt").border_title = f"Prompt · {matchup.prompt_set} / {matchup.prompt_id}"
            await self.query_one("#prompt-text", Markdown).update(matchup.prompt)
            await self.query_one("#left-text", Markdown).update(matchup.answer_left)
            await self.query_one("#right-text", Markdown).update(matchup.answer_right)
            for selector in ("#prompt", "#left", "#right"):
                self.query_one(selector).scroll_home(animate=False)
        else:
            total = self.picker.progress().pairs_total
            self.query_one("#done", Static).update(
                f"All {total} pairs voted — thank you, {escape(self.annotator)}.\n\n"
                "u: undo the last vote · q: quit · `evalkit ratings` shows the ratings")
        self.refresh_status()

    def refresh_status(self) -> None:
        progress = self.picker.progress()
        skipped = f" ({progress.skipped} skipped)" if progress.skipped else ""
        plural = "" if progress.votes == 1 else "s"
        line = (f"[b]{escape(self.annotator)}[/b] · {progress.votes} vote{plural} · {progress.pairs_left} of "
                f"{progress.pairs_total} pairs left{skipped}")
        if self.last_action:
            line += f" · [green]{self.last_action}[/green]"
        self.query_one("#status", Static).update(f"{line}\n[dim]{escape(self.order_note)}[/dim]")

    async def action_vote(self, winner: str) -> None:
        if self.current is None:
            self.last_action = "nothing to vote on: u undoes the last vote, q quits"
            self.refresh_status()
            return
        if time.monotonic() - self.shown_at < self.min_view_s:
            self.last_action = "key ignored: the pair had only just appeared"
            self.refresh_status()
            return
        if self.picker.repeat:  # voting again on a pair is what --repeat asks for
            vote_id = vote_store.cast(self.store, self.annotator, self.current, winner)
        else:  # the same annotator in the web page may have voted on this pair since it was drawn
            vote_id = vote_store.cast_once(self.store, self.annotator, self.current, winner)
        self.last_action = (f"saved #{vote_id}: {VOTE_LABELS[winner]}" if vote_id is not None else
                            "already voted on this pair in another window; it counts once")
        await self.show(self.picker.next())

    async def action_undo(self) -> None:
        undone = vote_store.undo_last(self.store, self.annotator)
        if undone is None:
            self.last_action = "nothing to undo"
            self.refresh_status()
            return
        self.last_action = f"undid #{undone.id} ({VOTE_LABELS[undone.winner]})"
        # Back to the undone pair, in the order it was shown, whatever the queue says now.
        await self.show(self.picker.matchup_for(undone) or self.picker.next())

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
