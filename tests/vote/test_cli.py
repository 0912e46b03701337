"""`evalkit vote` / `evalkit ratings` from the command line: clear messages when there is
nothing to do, and a voting path that never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from judged_store import list_loving_store
from voting_project import add_answers, write_project

from evalkit.cli import main
from evalkit.store.db import Store
from evalkit.vote.pairs import candidates, shown
from evalkit.vote.sources import ANSWERS_COMMAND, stored_answers
from evalkit.vote.votes import cast

REPO = Path(__file__).resolve().parents[2]


def empty_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "evalkit.toml").write_text('[project]\nstore = "store.db"\nseed = 7\n')
    return root / "evalkit.toml"


def test_vote_without_answers_names_the_command_that_makes_them(tmp_path, capsys):
    config = empty_project(tmp_path)
    assert main(["--config", str(config), "vote", "--annotator", "alice"]) == 2
    err = capsys.readouterr().err
    assert "no stored answers" in err and ANSWERS_COMMAND.split(" --")[0] in err
    assert "prompt sets here: alpaca_eval, default, mtbench" in " ".join(err.split())  # what NAME can be


def test_vote_with_one_model_says_a_second_is_needed(tmp_path, capsys):
    config = empty_project(tmp_path)
    add_answers(tmp_path / "store.db", ["base"], 3)
    assert main(["--config", str(config), "vote", "--annotator", "alice"]) == 2
    err = capsys.readouterr().err
    assert "only base answered" in err and "second" in err


def test_vote_with_an_unknown_model_lists_the_models_with_answers(tmp_path, capsys):
    config = write_project(tmp_path, n_prompts=2)
    assert main(["--config", str(config), "vote", "--annotator", "alice", "--models", "base,orca"]) == 2
    err = capsys.readouterr().err
    assert "orca" in err and "base, dpo, sft" in err


def test_vote_with_a_single_model_in_models_asks_for_two(tmp_path, capsys):
    config = write_project(tmp_path, n_prompts=2)
    assert main(["--config", str(config), "vote", "--annotator", "alice", "--models", "sft"]) == 2
    assert "at least two" in capsys.readouterr().err


def test_vote_when_everything_is_voted_says_so_without_starting_the_app(tmp_path, capsys):
    config = write_project(tmp_path, models=("base", "sft"), n_prompts=2)
    store = Store(tmp_path / "store.db")
    for candidate in candidates(stored_answers(store)):
        cast(store, "alice", shown("alice", candidate), "left")
    assert main(["--config", str(config), "vote", "--annotator", "alice"]) == 0
    out = capsys.readouterr().out
    assert "alice has voted on all 2 pairs" in out and "--repeat" in out


def test_vote_needs_an_annotator_name(tmp_path, capsys, monkeypatch):
    config = write_project(tmp_path, n_prompts=1)
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: "")
    assert main(["--config", str(config), "vote"]) == 2
    assert "--annotator NAME" in capsys.readouterr().err


def test_ratings_without_votes_points_to_vote(tmp_path, capsys):
    config = write_project(tmp_path, n_prompts=1)
    assert main(["--config", str(config), "ratings"]) == 2
    assert "evalkit vote" in capsys.readouterr().err


def voted_project(root: Path) -> Path:
    """Two annotators' votes on every pair of 3 prompts; base loses every time."""
    config = write_project(root, n_prompts=3)
    store = Store(root / "store.db")
    for annotator in ("alice", "bob"):
        for candidate in candidates(stored_answers(store)):
            matchup = shown(annotator, candidate)
            cast(store, annotator, matchup, "left" if matchup.model_left != "base" else "right")
    return config


def test_ratings_prints_ratings_win_rates_and_writes_plots(tmp_path, capsys):
    config = voted_project(tmp_path)
    assert main(["--config", str(config), "ratings", "--rounds", "100", "--plots", str(tmp_path / "png")]) == 0
    out = capsys.readouterr().out
    assert "18 votes by 2 annotators" in out
    for heading in ("Bradley–Terry", "online Elo", "Win rate", "annotator vs annotator"):
        assert heading in out
    assert (tmp_path / "png" / "human_ratings.png").exists() and (tmp_path / "png" / "human_win_rate.png").exists()


def test_ratings_show_the_style_controlled_fit_beside_the_plain_one(tmp_path, capsys):
    config = voted_project(tmp_path)
    assert main(["--config", str(config), "ratings", "--rounds", "50"]) == 0
    out = capsys.readouterr().out
    for heading in ("Style-controlled ratings", "style-controlled [95% CI]", "Style coefficients",
                    "length (characters)", "markdown headers", "Chatbot Arena"):
        assert heading in out
    assert main(["--config", str(config), "ratings", "--rounds", "50", "--no-style"]) == 0
    assert "Style-controlled" not in capsys.readouterr().out


def test_style_control_on_votes_whose_answers_are_gone_is_one_line(tmp_path, capsys):
    config = voted_project(tmp_path)
    store = Store(tmp_path / "store.db")
    with store.transaction() as db:
        db.execute("DELETE FROM answers WHERE model='sft' AND prompt_id='p01'")
    store.close()
    assert main(["--config", str(config), "ratings", "--rounds", "50"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    for fragment in ("4 of 18 votes", "model 'sft'", "prompt set 'chat'", "prompt 'p01'", str(tmp_path / "store.db"),
                     "evalkit answers --models sft --prompt-set chat", "--no-style"):
        assert fragment in lines[0]
    assert main(["--config", str(config), "ratings", "--rounds", "50", "--no-style"]) == 0
    assert "Bradley–Terry" in capsys.readouterr().out


def test_ratings_of_a_judge_show_its_verdicts_plain_and_style_controlled(tmp_path, capsys):
    config = empty_project(tmp_path)
    list_loving_store(tmp_path).close()
    assert main(["--config", str(config), "ratings", "--judge", "j", "--rounds", "50"]) == 0
    out = capsys.readouterr().out
    assert "judge j · prompt set chat · 180 scored verdicts (strict rule)" in out
    for heading in ("Judge ratings", "Bradley–Terry [95% CI]", "Style-controlled ratings", "list items"):
        assert heading in out
    assert main(["--config", str(config), "ratings", "--judge", "j", "--rounds", "50", "--no-style"]) == 0
    assert "Style-controlled" not in capsys.readouterr().out


@pytest.mark.parametrize("argv, fragments", [
    (["--judge", "nobody"], ["no current verdicts of judge 'nobody'", "judges with verdicts: j", "evalkit judge"]),
    (["--judge", "j", "--plots", "png"], ["--plots", "evalkit report"]),
])
def test_ratings_of_a_judge_bad_input_is_one_line(tmp_path, capsys, argv, fragments):
    config = empty_project(tmp_path)
    list_loving_store(tmp_path).close()
    assert main(["--config", str(config), "ratings", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err


def test_ratings_of_a_judge_whose_answers_are_gone_is_one_line(tmp_path, capsys):
    config = empty_project(tmp_path)
    # A verdict is current only while its answers are stored, so the texts can only go missing together
    # with the verdicts: the judge then has nothing left to rate, and says so.
    store = list_loving_store(tmp_path)
    with store.transaction() as db:
        db.execute("DELETE FROM answers WHERE model='sft'")
    store.close()
    assert main(["--config", str(config), "ratings", "--judge", "j", "--models", "sft,base", "--rounds", "50"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no scored verdict" in err and "evalkit judge --judge j" in err


def test_voting_never_imports_torch(tmp_path):
    """Everything `evalkit vote` imports up to the first screen, in a fresh interpreter."""
    write_project(tmp_path, n_prompts=2)
    store = Store(tmp_path / "store.db")
    cast(store, "bob", shown("bob", candidates(stored_answers(store))[0]), "left")  # ratings code runs too
    code = (
        "import sys; from evalkit.cli import build_parser; from evalkit.config import load_config;"
        "from evalkit.store.db import Store; from evalkit.vote.cli import voting_pool;"
        "from evalkit.vote.sources import judge_verdicts; from evalkit.vote.pairs import PairPicker;"
        "from evalkit.vote.app import VoteApp;"
        f"c = load_config({str(tmp_path / 'evalkit.toml')!r}); s = Store(c.store);"
        "p = PairPicker(s, 'alice', voting_pool(s, c.store, None, None), judge_verdicts(s)); p.next();"
        "VoteApp(s, 'alice', p, '');"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft', 'trl', 'bitsandbytes', 'matplotlib')"
        " if m in sys.modules); print('heavy:', heavy)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout


@pytest.mark.parametrize("command", ["vote", "ratings"])
def test_help_lists_the_options(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "--models" in out and "--prompt-set" in out
