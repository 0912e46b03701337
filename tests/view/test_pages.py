"""The view's pages over a real store: filters in SQL agree with the same filter applied to the records
in Python, the recomputed numbers are the report's own, pages hold one page, bad URLs get a page."""

from __future__ import annotations

import re

import pytest

import evalkit
from evalkit.kinds import KINDS
from evalkit.scoring import stats
from evalkit.store import Store
from evalkit.view import items, queries, verdicts
from evalkit.view.queries import Filter
from evalkit.view.site import NotFound, Site
from view_project import N_GEN, build


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("view")
    config, run_id = build(root)
    return root, run_id


@pytest.fixture()
def site(project):
    root, _ = project
    return Site(Store(root / "store.db"))


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def python_filter(records, wrong=False, empty=False, truncated=False, level=None, search=""):
    """The filter's meaning, written out over the records the store returns whole."""
    kept = []
    for r in records:
        if wrong and not r["scores"]["exact_match"] < 1:
            continue
        if empty and r["response"].strip():
            continue
        if truncated and r["scores"].get("finish_reason") != "length":
            continue
        if level is not None and r["fields"].get("level") != level:
            continue
        if search and not any(search in r[k] for k in ("prompt", "response", "target")):
            continue
        kept.append(r)
    return kept


@pytest.mark.parametrize("options", [dict(wrong=True), dict(empty=True), dict(truncated=True), dict(level="hard"),
                                     dict(search="times 1"), dict(wrong=True, level="easy")])
def test_a_filter_in_sql_keeps_what_the_same_filter_keeps_in_python(site, project, options):
    _, run_id = project
    records = site.store.samples(run_id, "base", "toygsm")
    expected = python_filter(records, **options)
    level = options.pop("level", None)
    search = options.pop("search", "")
    filter_ = Filter(field="level" if level else "", value=level or "", search=search, **options)
    samples = queries.Samples(site.store, run_id, "toygsm", "base", "exact_match")
    assert samples.count(filter_) == len(expected) and 0 < len(expected) < N_GEN
    assert [r["sample_id"] for r in samples.scored(filter_)] == [r["sample_id"] for r in expected]


def test_the_samples_page_recomputes_the_interval_with_the_kinds_estimate(site, project):
    _, run_id = project
    hard = python_filter(site.store.samples(run_id, "sft", "toygsm"), level="hard")
    row = KINDS["generate"].estimate("exact_match", hard, seed=7)
    page = items.samples_page(site, {"run": str(run_id), "task": "toygsm", "model": "sft", "field": "level",
                                     "value": "hard"})
    shown = re.search(r'id="estimate">([^<]*)<', page).group(1)
    assert shown == items.estimate_text(row) and f"(n={len(hard)})" in shown
    everything = items.samples_page(site, {"run": str(run_id), "task": "toygsm", "model": "sft"})
    assert re.search(r'id="estimate">([^<]*)<', everything).group(1) != shown


def test_a_page_holds_one_page_of_items_and_the_next_page_the_next(site, project):
    _, run_id = project
    query = {"run": str(run_id), "task": "toygsm", "model": "base"}
    first = re.findall(r'class="id">(q\d+)<', items.samples_page(site, query))
    second = re.findall(r'class="id">(q\d+)<', items.samples_page(site, {**query, "page": "2"}))
    assert len(first) == queries.PAGE_SIZE and first[0] == "q000" and second[0] == f"q{queries.PAGE_SIZE:03d}"
    with pytest.raises(NotFound, match="page 9 does not exist; this list has 3 pages"):
        items.samples_page(site, {**query, "page": "9"})


def test_the_unfiltered_diff_shows_the_leaderboards_paired_comparison(site, project):
    root, run_id = project
    row = evalkit.open_store(root / "store.db").results(run_id).compare("sft", "base").set_index("task").loc["toygsm"]
    page = items.diff_page(site, {"run": str(run_id), "task": "toygsm", "a": "sft", "b": "base"})
    interval = re.search(r'id="interval">([^<]*)<', page).group(1)
    assert interval == items.comparison(site, site.run(run_id), queries.Pairs(
        site.store, run_id, "toygsm", "sft", "base", "exact_match"), Filter())["text"]
    low, high = (float(x) for x in re.findall(r"-?\d+\.\d+", interval)[1:3])
    assert low == pytest.approx(row["ci_low"], abs=1e-4) and high == pytest.approx(row["ci_high"], abs=1e-4)
    assert "mcnemar exact" in page


def test_the_diff_interval_follows_the_filter(site, project):
    _, run_id = project
    hard = {r["sample_id"] for r in python_filter(site.store.samples(run_id, "sft", "toygsm"), level="hard")}
    scores = {m: {r["sample_id"]: r["scores"]["exact_match"] for r in site.store.samples(run_id, m, "toygsm")}
              for m in ("sft", "base")}
    ids = sorted(hard)
    expected = stats.compare([scores["sft"][i] for i in ids], [scores["base"][i] for i in ids], seed=7)
    pairs = queries.Pairs(site.store, run_id, "toygsm", "sft", "base", "exact_match")
    shown = items.comparison(site, site.run(run_id), pairs, Filter(field="level", value="hard"))
    assert (shown["diff"], shown["ci_low"], shown["ci_high"], shown["n"]) == pytest.approx(
        (expected.diff, expected.ci_low, expected.ci_high, len(ids)))
    assert shown["text"] != items.comparison(site, site.run(run_id), pairs, Filter())["text"]


def test_the_diff_splits_into_items_one_model_gets_right(site, project):
    _, run_id = project
    pairs = queries.Pairs(site.store, run_id, "toygsm", "sft", "base", "exact_match")
    a_right, b_right = pairs.count(Filter(split="a_right")), pairs.count(Filter(split="b_right"))
    assert a_right > 0 and b_right > 0 and pairs.count(Filter(split="disagree")) == a_right + b_right
    for record_a, record_b in pairs.page(Filter(split="a_right"), 1):
        assert record_a["scores"]["exact_match"] == 1 and record_b["scores"]["exact_match"] == 0


def test_differing_spans_are_marked_on_each_side(site, project):
    _, run_id = project
    page = items.diff_page(site, {"run": str(run_id), "task": "toygsm", "a": "sft", "b": "base", "split": "disagree"})
    assert '<mark class="del">' in page and '<mark class="ins">' in page and "sft works it out" in page


def test_code_items_show_the_sandbox_verdict_and_finish_reason(site, project):
    _, run_id = project
    page = text(items.samples_page(site, {"run": str(run_id), "task": "toycode", "model": "base", "wrong": "1"}))
    assert "sandbox: timeout: wall time over 10 s" in page and "sandbox: failed: AssertionError" in page
    assert "finish: stop" in page


@pytest.mark.parametrize("query, message", [
    ({"run": "42", "task": "toygsm", "model": "base"}, "no run 42 in the store; runs there: 1"),
    ({"run": "x", "task": "toygsm", "model": "base"}, "'x' is not a run number"),
    ({"run": "1", "task": "nope", "model": "base"}, "run 1 has no task 'nope'; its tasks: toygsm, toycode"),
    ({"run": "1", "task": "toygsm", "model": "gpt"}, "run 1 has no model 'gpt'; its models: base, sft, dpo"),
])
def test_an_unknown_run_task_or_model_is_named_with_what_there_is(site, query, message):
    with pytest.raises(NotFound, match=re.escape(message)):
        items.samples_page(site, query)


def test_the_run_page_holds_the_leaderboard_and_the_judges_verdicts_both_orders(site, project):
    _, run_id = project
    page = site.run_page(str(run_id))
    assert "<h3>Paired comparisons</h3>" in page and "<h3>Provenance</h3>" in page and "<table>" in page
    plot = re.search(r'src="plot\?run=1&amp;name=([^"]+\.png)"', page).group(1)
    assert site.plot_path(run_id, plot).stat().st_size > 1000
    judged = text(verdicts.judge_page(site, {}))
    assert "tie (flipped)" in judged
    one = text(verdicts.verdict_page(site, {"judge": "toyjudge", "set": "chat", "prompt": "p01", "a": "base",
                                            "b": "sft"}))
    # the judge said "A" both times: base when base was shown first, sft when sft was: a flip
    assert "ab base A A [[A]] because reasons 1" in one and "ba sft A B [[A]] because reasons 1" in one
    assert "KESTREL" in one and "HERON" in one  # both models' answers


def test_a_perplexity_task_shows_its_corpus_metric_and_the_leaderboards_paired_bootstrap(tmp_path):
    from report.test_leaderboard import build_store  # the leaderboard's golden-file store

    store, run_id = build_store(tmp_path / "store.db")
    site = Site(store)
    page = items.samples_page(site, {"run": str(run_id), "task": "toyppl", "model": "sft"})
    assert 'id="wrong"' not in page  # no per-item right or wrong in perplexity
    row = KINDS["perplexity"].estimate("word_perplexity", store.samples(run_id, "sft", "toyppl"), seed=3)
    assert re.search(r'id="estimate">([^<]*)<', page).group(1) == items.estimate_text(row)
    diff = items.diff_page(site, {"run": str(run_id), "task": "toyppl", "a": "sft", "b": "base"})
    expected = evalkit.open_store(tmp_path / "store.db").results(run_id).compare("sft", "base").iloc[0]
    shown = items.comparison(site, site.run(run_id), queries.Pairs(store, run_id, "toyppl", "sft", "base",
                                                                    "word_perplexity"), Filter())
    assert (shown["diff"], shown["ci_low"], shown["ci_high"]) == pytest.approx(
        (expected["diff"], expected["ci_low"], expected["ci_high"]))
    assert "paired bootstrap" in diff and shown["text"] in diff


def test_the_leaderboard_is_redrawn_when_a_vote_lands(project, tmp_path):
    import shutil

    from evalkit.vote import votes as vote_store
    from evalkit.vote.pairs import candidates, shown
    from evalkit.vote.sources import stored_answers

    root, run_id = project
    shutil.copy(root / "store.db", tmp_path / "store.db")
    site = Site(Store(tmp_path / "store.db"))
    before = site.run_page(str(run_id))
    assert "Human votes" not in before
    vote_store.cast(site.store, "gil", shown("gil", candidates(stored_answers(site.store))[0]), "left")
    assert "Human votes" in site.run_page(str(run_id))


def test_a_bundle_page_keeps_a_prompts_end_and_a_responses_start(site):
    site.max_chars = 10
    record = {"prompt": "few-shot preamble ... QUESTION?", "response": "ANSWER then more words", "target": "short"}
    cut = items.clipped(site, record)
    assert cut["prompt"].endswith("QUESTION?") and "characters before this" in cut["prompt"]
    assert cut["response"].startswith("ANSWER the") and "more characters" in cut["response"]
    assert cut["target"] == "short"


def test_two_models_answers_side_by_side_with_the_judge_in_both_orders_and_the_votes(project, tmp_path):
    import shutil

    from evalkit.view import answers
    from evalkit.vote import votes as vote_store
    from evalkit.vote.pairs import candidates, shown
    from evalkit.vote.sources import stored_answers

    root, _ = project
    shutil.copy(root / "store.db", tmp_path / "store.db")
    site = Site(Store(tmp_path / "store.db"))
    pair = next(c for c in candidates(stored_answers(site.store)) if c.pair == ("chat", "p01", "base", "sft"))
    matchup = shown("hal", pair)
    vote_store.cast(site.store, "hal", matchup, "left")
    page = answers.answers_page(site, {"set": "chat", "a": "sft", "b": "base"})
    rows = re.findall(r'<tr class="item">(.*?)</tr>', page, re.S)
    assert len(rows) == 4 and "HERON -1" in text(rows[1]) and "KESTREL -1" in text(rows[1]) and '<mark class="del">' in rows[1]
    # the judge's model_a is base; here sft is A. On p01 it picked whichever answer it saw first
    assert "A first A · B first B · both tie" in text(rows[1])
    assert f"votes: {'B' if matchup.model_left == 'base' else 'A'} 1" in text(rows[1])
    searched = answers.answers_page(site, {"set": "chat", "a": "sft", "b": "base", "q": "case 3"})
    assert re.findall(r'class="meta id">([^<]*)<', searched) == ["p03"]
    with pytest.raises(NotFound, match="no answers of both 'sft' and 'gpt' to prompt set 'chat'; prompt sets "
                                       "with answers: chat"):
        answers.answers_page(site, {"set": "chat", "a": "sft", "b": "gpt"})
