"""The voting app driven headless by Textual's pilot: what the annotator sees, what each key stores."""

from __future__ import annotations

import asyncio

import pytest
from rich.text import Text
from voting_project import CODEWORDS, write_project

from evalkit.store.db import Store
from evalkit.vote.app import HelpScreen, VoteApp
from evalkit.vote.cli import voting_pool
from evalkit.vote.pairs import PairPicker
from evalkit.vote.sources import JudgeData
from evalkit.vote.votes import votes

NO_JUDGE = JudgeData((), "no LLM-judge verdicts in the store yet")


def make_app(tmp_path, models=("base", "sft", "dpo"), n_prompts=3, annotator="alice") -> VoteApp:
    if not (tmp_path / "store.db").exists():
        write_project(tmp_path, models, n_prompts)
    store = Store(tmp_path / "store.db")
    picker = PairPicker(store, annotator, voting_pool(store, tmp_path / "store.db", None, None), NO_JUDGE, seed=7)
    # min_view_s=0: the pilot presses keys faster than anyone reads; the guard has its own test.
    return VoteApp(store, annotator, picker, "next pairs: overlapping ratings first", min_view_s=0)


def drive(app: VoteApp, script, size=(100, 30)):
    """Run `script(pilot)` against the app, headless, at a terminal size."""
    async def run():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(pilot)
    asyncio.run(run())


def status(app: VoteApp) -> str:
    return Text.from_markup(str(app.query_one("#status").content)).plain


def shown_text(app: VoteApp) -> str:
    """Every piece of text the screen shows, widget by widget."""
    parts = [app.title, app.sub_title, status(app), str(app.query_one("#done").content)]
    for selector in ("#prompt", "#left", "#right"):
        parts.append(str(app.query_one(selector).border_title))
    for selector in ("#prompt-text", "#left-text", "#right-text"):
        parts.append(app.query_one(selector).source)
    return "\n".join(parts)


def codeword(app: VoteApp, side: str) -> str:
    source = app.query_one(f"#{side}-text").source
    return next(word for word in CODEWORDS.values() if word in source)


def model_of(word: str) -> str:
    return next(model for model, w in CODEWORDS.items() if w == word)


def test_first_screen_shows_prompt_and_two_anonymous_answers(tmp_path):
    app = make_app(tmp_path)

    async def script(pilot):
        current = app.current
        assert app.query_one("#prompt-text").source == current.prompt
        assert app.query_one("#left-text").source == current.answer_left
        assert app.query_one("#right-text").source == current.answer_right
        assert model_of(codeword(app, "left")) == current.model_left
        assert (app.query_one("#left").border_title, app.query_one("#right").border_title) == ("A", "B")
        text = shown_text(app)
        assert not any(name in text for name in ("base", "sft", "dpo")), "a model name is on screen"
        assert "alice · 0 votes · 9 of 9 pairs left" in status(app)
        assert "alice" in app.sub_title

    drive(app, script)


@pytest.mark.parametrize("key, stored", [("a", "left"), ("b", "right"), ("t", "tie"), ("x", "both_bad")])
def test_each_vote_key_commits_at_once_and_moves_on(tmp_path, key, stored):
    app = make_app(tmp_path)

    async def script(pilot):
        before = app.current
        await pilot.press(key)
        found = votes(Store(tmp_path / "store.db"))  # a second connection: the vote is committed
        assert [(v.annotator, v.model_left, v.model_right, v.winner) for v in found] == [
            ("alice", before.model_left, before.model_right, stored)]
        assert app.current.pair != before.pair
        assert "1 vote · 8 of 9 pairs left" in status(app)

    drive(app, script)


def test_skip_is_stored_and_not_counted_as_a_vote(tmp_path):
    app = make_app(tmp_path)

    async def script(pilot):
        skipped = app.current
        await pilot.press("s")
        assert votes(app.store) == []
        assert [v.winner for v in votes(app.store, include_skips=True)] == ["skip"]
        assert app.current.pair != skipped.pair
        assert "0 votes · 9 of 9 pairs left (1 skipped)" in status(app)

    drive(app, script)


def test_undo_returns_to_the_pair_in_the_same_order(tmp_path):
    app = make_app(tmp_path)

    async def script(pilot):
        first = app.current
        left_word = codeword(app, "left")
        await pilot.press("a", "u")
        assert votes(app.store) == []
        assert app.current == first and codeword(app, "left") == left_word
        assert "undid" in status(app) and "0 votes" in status(app)
        await pilot.press("u")
        assert "nothing to undo" in status(app)

    drive(app, script)


def test_help_opens_and_any_key_closes_it_without_voting(tmp_path):
    app = make_app(tmp_path)

    async def script(pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("#help").content)
        for key in ("a", "b", "t", "x", "s", "u", "q"):
            assert f"[b]{key:<4}[/b]" in help_text
        await pilot.press("a")  # closes help; must not vote
        assert not isinstance(app.screen, HelpScreen)
        assert votes(app.store) == []

    drive(app, script)


def test_a_key_held_down_casts_no_votes_on_unread_pairs(tmp_path):
    app = make_app(tmp_path)
    app.min_view_s = 60  # every press lands "too soon" after the pair appeared

    async def script(pilot):
        first = app.current
        await pilot.press("a", "a", "a")
        assert votes(app.store) == [] and app.current == first
        assert "key ignored" in status(app)
        app.min_view_s = 0
        await pilot.press("a")
        assert len(votes(app.store)) == 1

    drive(app, script)


def test_quit_key_exits(tmp_path):
    app = make_app(tmp_path)

    async def script(pilot):
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running

    drive(app, script)


def test_all_done_screen_then_undo_brings_the_last_pair_back(tmp_path):
    app = make_app(tmp_path, models=("base", "sft"), n_prompts=2)

    async def script(pilot):
        await pilot.press("a", "b")
        assert app.current is None
        assert app.query_one("#done").display and not app.query_one("#answers").display
        assert "All 2 pairs voted" in str(app.query_one("#done").content)
        await pilot.press("a")
        assert len(votes(app.store)) == 2 and "nothing to vote on" in status(app)
        await pilot.press("u")
        assert app.current is not None and app.query_one("#answers").display
        assert "1 vote · 1 of 2 pairs left" in status(app)

    drive(app, script)


def test_a_restarted_app_continues_where_the_last_stopped(tmp_path):
    first = make_app(tmp_path)
    seen = []

    async def vote_twice(pilot):
        for _ in range(2):
            seen.append(app_pair(first))
            await pilot.press("a")

    drive(first, vote_twice)
    second = make_app(tmp_path)

    async def check(pilot):
        assert "2 votes · 7 of 9 pairs left" in status(second)
        assert app_pair(second) not in seen

    drive(second, check)


def app_pair(app: VoteApp):
    return app.current.pair


@pytest.mark.parametrize("size", [(100, 30), (200, 50)])
def test_layout_fits_and_long_answers_scroll(tmp_path, size):
    write_project(tmp_path, models=("base", "sft"), n_prompts=1)
    store = Store(tmp_path / "store.db")
    long_prompt = "\n\n".join(f"Paragraph {k} of a long prompt." for k in range(20))
    long_answer = "\n\n".join(f"Step {k}: a detail of the answer." for k in range(40))  # 80 rows: taller than 50
    store.db.execute("UPDATE answers SET prompt=?, answer=?", (long_prompt, long_answer))
    app = make_app(tmp_path)
    width, height = size

    async def script(pilot):
        screen = app.screen.region
        prompt, left, right = (app.query_one(s).region for s in ("#prompt", "#left", "#right"))
        status_region = app.query_one("#status").region
        for region in (prompt, left, right, status_region):
            assert screen.contains_region(region), f"{region} is outside the {width}x{height} screen"
        assert prompt.height <= 0.35 * height + 1  # a long prompt leaves room for the answers
        assert left.y == right.y and left.right <= right.x and abs(left.width - right.width) <= 1
        assert left.height >= height // 3
        assert status_region.height == 2 and status_region.bottom < height  # the footer is below it
        pane = app.query_one("#left")
        assert pane.max_scroll_y > 0
        pane.focus()
        await pilot.press("pagedown")
        await pilot.pause()
        assert pane.scroll_y > 0
        assert app.query_one("#right").scroll_y == 0  # panes scroll independently

    drive(app, script, size=size)
