"""Judge files: the shipped judges load, verdicts parse as the file says, bad files say what to fix."""

from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.judge.prompts import load_judge_template, parse_verdict, render_judge

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pairwise():
    return load_judge_template("mtbench-pairwise", ROOT)


def test_shipped_judges_load_with_mtbench_verdict_format(pairwise):
    reference = load_judge_template(pairwise.with_reference, ROOT)
    assert pairwise.reference is False and reference.reference is True
    for template in (pairwise, reference):
        assert '"[[A]]" if assistant A is better' in template.system and '"[[C]]" for a tie' in template.system
        assert template.labels == {"A": "A", "B": "B", "C": "tie"} and template.logprob_choices == ("A", "B", "C")


def test_render_shows_the_first_answer_as_assistant_a(pairwise):
    reference = load_judge_template("mtbench-pairwise-ref", ROOT)
    _, user = render_judge(reference, "What is 2+2?", "four {{ not a template }}", "five", "4")
    assert user.index("four {{ not a template }}") < user.index("five")
    assert "[The Start of Reference Answer]\n4\n" in user and "[User Question]\nWhat is 2+2?" in user
    _, user = render_judge(pairwise, "Q", "first", "second", "ignored")
    assert "ignored" not in user and "Assistant A's Answer]\nfirst\n" in user


@pytest.mark.parametrize("text, shown", [
    ("A is more accurate. [[A]]", "A"),
    ("The format is [[A]], [[B]] or [[C]]. Both are fine: [[C]]", "tie"),  # the last verdict counts
    ("[[B]]", "B"),
    ("Assistant A is better.", None),
    ("[[D]]", None),
])
def test_verdicts_parse_by_the_last_match(pairwise, text, shown):
    parsed, error = parse_verdict(pairwise, text)
    assert parsed == shown and (error is None) == (shown is not None)


def test_pick_only_makes_conflicting_verdicts_unscored(tmp_path, pairwise):
    text = pairwise.path.read_text().replace('pick = "last"', 'pick = "only"')
    (tmp_path / "judges").mkdir()
    (tmp_path / "judges" / "strict.toml").write_text(text)
    strict = load_judge_template("strict", tmp_path)
    assert parse_verdict(strict, "[[A]] ... [[B]]") == (None, "conflicting verdicts ['A', 'B']")
    assert parse_verdict(strict, "[[A]] and again [[A]]") == ("A", None)


@pytest.mark.parametrize("change, message", [
    (("[verdict]", "[verdict]\nextra = 1\n[verdicts]"), "unknown key 'verdicts'"),
    (("regex = '\\[\\[([ABC])\\]\\]'", "regex = '('"), "not a valid regular expression"),
    (('C = "tie"', 'C = "draw"'), "verdict.labels must map"),
    (('choices = ["A", "B", "C"]', 'choices = ["A", "B", "X"]'), "logprobs.choices has 'X'"),
])
def test_bad_judge_files_name_the_key_and_fix(tmp_path, pairwise, change, message):
    (tmp_path / "judges").mkdir()
    (tmp_path / "judges" / "bad.toml").write_text(pairwise.path.read_text().replace(*change, 1))
    with pytest.raises(ConfigError, match=message) as err:
        load_judge_template("bad", tmp_path)
    assert "bad.toml" in str(err.value)


def test_unknown_judge_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="mtbench-pairwise"):
        load_judge_template("nope", tmp_path)
