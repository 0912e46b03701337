"""Web votes: no token, no vote; the pair, order and side `evalkit vote` would show; the same votes
table, read by `evalkit ratings`; voters at once (web and terminal) lose nothing and never vote twice
on one pair."""

from __future__ import annotations

import html
import socket
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.store import Store
from evalkit.view import annotators
from evalkit.view.app import build_app
from evalkit.view.server import Server
from evalkit.vote import votes as vote_store
from evalkit.vote.pairs import PairPicker, candidates
from evalkit.vote.sources import judge_verdicts, stored_answers
from view_project import build

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def project(tmp_path):
    config, _ = build(tmp_path)
    return tmp_path / "store.db", config


@pytest.fixture()
def served(project):
    path, _ = project
    with Server(build_app(Store(path), path, votes=True, seed=7), port=0) as server:
        yield server


def request(server: Server, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(server.url + path, data=data, timeout=60) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def form_of(page: str) -> dict[str, str]:
    fields = re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in fields}


def test_no_token_or_an_unknown_token_gets_no_page_and_casts_no_vote(served, project):
    path, _ = project
    for query in ("vote", "vote?token=guessed"):
        status, page = request(served, query)
        assert status == 403 and "evalkit view --add-annotator NAME" in page
    status, _ = request(served, "vote", {"token": "guessed", "vote": "left", "prompt_set": "chat", "prompt_id": "p00"})
    assert status == 403 and vote_store.votes(Store(path)) == []


def test_the_page_shows_the_pair_and_sides_the_terminal_app_would(served, project):
    path, _ = project
    token = annotators.add(path, "alice")
    _, page = request(served, f"vote?token={token}")
    store = Store(path)
    pool = candidates(stored_answers(store))
    expected = PairPicker(store, "alice", pool, judge_verdicts(store), seed=7).next()
    form = form_of(page)
    assert (form["prompt_set"], form["prompt_id"]) == (expected.prompt_set, expected.prompt_id)
    codeword = {m: re.search(r"Answer (\w+-\d+)", expected.answer_left if m == "left" else expected.answer_right)[1]
                for m in ("left", "right")}
    assert page.index(f"<h2>Answer {codeword['left']}</h2>") < page.index(f"<h2>Answer {codeword['right']}</h2>")
    main_part = page.split("<main>")[1]
    assert not any(re.search(rf"\b{m}\b", main_part) for m in ("base", "sft", "dpo"))  # the pair stays anonymous


def test_a_vote_lands_in_the_votes_table_once_and_undo_brings_the_pair_back(served, project):
    path, _ = project
    token = annotators.add(path, "alice")
    _, page = request(served, f"vote?token={token}")
    form = form_of(page)
    store = Store(path)
    expected = PairPicker(store, "alice", candidates(stored_answers(store)), judge_verdicts(store), seed=7).next()
    _, after = request(served, "vote", {**form, "vote": "left"})
    assert "saved #1: A is better" in after
    (vote,) = vote_store.votes(Store(path))
    assert (vote.annotator, vote.model_left, vote.model_right, vote.winner, vote.prompt_id) == (
        "alice", expected.model_left, expected.model_right, "left", expected.prompt_id)
    _, again = request(served, "vote", {**form, "vote": "right"})  # the same page sent twice (another tab)
    assert "already voted on that pair" in again and len(vote_store.votes(Store(path))) == 1
    _, undone = request(served, "vote", {"token": token, "vote": "undo"})
    assert "undid #1 (A is better)" in undone and form_of(undone)["prompt_id"] == form["prompt_id"]
    assert vote_store.votes(Store(path)) == []


def test_a_web_vote_counts_in_evalkit_ratings(served, project, capsys):
    path, config = project
    token = annotators.add(path, "alice")
    for _ in range(4):
        _, page = request(served, f"vote?token={token}")
        request(served, "vote", {**form_of(page), "vote": "right"})
    assert main(["--config", str(config), "ratings", "--rounds", "20"]) == 0
    assert "4 votes by 1 annotator (alice)" in " ".join(capsys.readouterr().out.split())


TERMINAL_VOTER = """
import sys
from evalkit.store import Store
from evalkit.vote import votes as vote_store
from evalkit.vote.pairs import PairPicker, candidates
from evalkit.vote.sources import judge_verdicts, stored_answers
store = Store(sys.argv[1])
picker = PairPicker(store, sys.argv[2], candidates(stored_answers(store)), judge_verdicts(store), seed=7)
while (matchup := picker.next()) is not None:  # what the terminal app does on each key press
    vote_store.cast_once(store, sys.argv[2], matchup, "tie")
"""


def vote_until_done(server: Server, token: str) -> None:
    while True:
        _, page = request(server, f"vote?token={token}")
        if 'id="done"' in page:
            return
        request(server, "vote", {**form_of(page), "vote": "left"})


def test_voters_at_once_lose_nothing_and_never_vote_twice_on_a_pair(served, project):
    path, _ = project
    tokens = {name: annotators.add(path, name) for name in ("alice", "bob")}
    terminal = subprocess.Popen([sys.executable, "-c", TERMINAL_VOTER, str(path), "alice"], cwd=REPO)
    # alice in two browser windows and the terminal app, bob in one window, all at once
    voters = [threading.Thread(target=vote_until_done, args=(served, tokens[name]))
              for name in ("alice", "alice", "bob")]
    for voter in voters:
        voter.start()
    for voter in voters:
        voter.join(timeout=120)
    assert terminal.wait(timeout=120) == 0
    pairs = len(candidates(stored_answers(Store(path))))
    cast = Counter((v.annotator, v.pair) for v in vote_store.votes(Store(path)))
    assert max(cast.values()) == 1
    assert Counter(annotator for annotator, _ in cast) == {"alice": pairs, "bob": pairs}


def test_a_form_with_its_sides_or_answers_changed_casts_nothing(served, project):
    path, _ = project
    token = annotators.add(path, "erin")
    _, page = request(served, f"vote?token={token}")
    form = form_of(page)
    for changed in ({"sides": "0" * 32}, {"sha_left": "0" * 16}):
        _, after = request(served, "vote", {**form, **changed, "vote": "left"})
        assert "changed, or the view restarted" in after
    assert vote_store.votes(Store(path)) == []


def test_answers_are_markdown_as_in_the_terminal_and_raw_html_stays_text(served, project):
    path, _ = project
    store = Store(path)
    with store.transaction() as db:
        db.execute("UPDATE answers SET answer = answer || '\n\n<script>alert(1)</script> [x](javascript:alert(1))'")
    token = annotators.add(path, "frank")
    _, page = request(served, f"vote?token={token}")
    assert "<h2>Answer " in page and "<li>point 0 of" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page and 'href="javascript' not in page


def test_a_bad_token_is_one_line_in_the_servers_terminal_without_the_token(served, capfd):
    request(served, "vote?token=s3cr3t-guess")
    err = capfd.readouterr().err
    assert "evalkit view: 403 GET /vote: this token is not known" in err and "s3cr3t-guess" not in err


def test_with_voting_on_other_machines_get_only_the_voting_page():
    from evalkit.view.app import served_to

    for path in ("/", "/run", "/samples", "/diff", "/judge", "/verdict", "/answers", "/plot"):
        assert served_to(path, "127.0.0.1", voting=True) and served_to(path, "10.1.2.3", voting=False)
        assert not served_to(path, "10.1.2.3", voting=True), path  # would tell which model wrote which answer
    for path in ("/vote", "/static/view.css", "/static/vote.js", "/favicon.ico"):
        assert served_to(path, "10.1.2.3", voting=True)
    assert not served_to("/voter", "10.1.2.3", voting=True) and not served_to("/static", "10.1.2.3", voting=True)


def test_the_voting_page_links_to_no_results_page(served, project):
    path, _ = project
    token = annotators.add(path, "ivy")
    _, page = request(served, f"vote?token={token}")
    assert not re.search(r'href="(\./|run|judge|answers|samples|diff)', page)


def this_machines_address() -> str | None:
    """An address of this machine other than loopback, to be a client from 'another machine'."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_an_annotator_on_the_network_gets_the_voting_page_and_nothing_else(project):
    address = this_machines_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    path, _ = project
    token = annotators.add(path, "jo")
    with Server(build_app(Store(path), path, votes=True, seed=7), host="0.0.0.0", port=0) as server:
        remote = server.url.replace("0.0.0.0", address)
        with urllib.request.urlopen(remote + f"vote?token={token}", timeout=30) as reply:
            assert reply.status == 200 and "Prompt" in reply.read().decode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(remote + "judge", timeout=30)
        assert refused.value.code == 403 and "votes stay blind" in refused.value.read().decode()
        with urllib.request.urlopen(server.url.replace("0.0.0.0", "127.0.0.1") + "judge", timeout=30) as reply:
            assert reply.status == 200  # the owner, on this machine, sees everything
