"""An endpoint judge scored by its verdict token's top log-probabilities, over real HTTP with the real
OpenAI client: a toy judge with a known pull toward the answer shown first and a known true preference.
The strict rule reads its verdicts as ties; the calibrated rule recovers the preference."""

import json
import math
import re

import pytest
from fake_endpoint import FakeEndpoint, chat_reply, prompt_of

from evalkit.backends.endpoint_calls import RequestRunner
from evalkit.config import load_config
from evalkit.judge import run_judge
from evalkit.judge.calibration import under_rule
from evalkit.judge.verdicts import judged_pairs, judgment_rows
from evalkit.progress.console import ConsoleUI
from evalkit.store.db import Store

PROMPTS = [{"id": f"p{i}", "prompt": f"Question {i}?"} for i in range(3)]
ANSWERS = {"good": "A careful, correct answer.", "poor": "A sloppy answer."}
FIRST_PULL, PREFERENCE = 2.0, 1.0  # logit added to the answer shown first; to the good answer


def toy_judge_reply(text: str, with_tops: bool = True) -> dict:
    """Verdict logits: the first-shown answer gets FIRST_PULL, the good answer PREFERENCE, a tie 0; the
    reply's one token is the argmax, with the choices among its top alternatives (" A" spelt with a space)."""
    first = re.search(r"Assistant A's Answer\]\n(.*)\n\[The End of Assistant A", text, re.S).group(1)
    second = re.search(r"Assistant B's Answer\]\n(.*)\n\[The End of Assistant B", text, re.S).group(1)
    logits = {"A": FIRST_PULL + PREFERENCE * (first == ANSWERS["good"]),
              "B": PREFERENCE * (second == ANSWERS["good"]), "C": 0.0}
    norm = math.log(sum(math.exp(v) for v in logits.values()) + 1.0)  # + 1: mass on other tokens
    tops = [{"token": " A", "logprob": logits["A"] - norm, "bytes": None},
            {"token": "B", "logprob": logits["B"] - norm, "bytes": None},
            {"token": "C", "logprob": logits["C"] - norm, "bytes": None},
            {"token": "The", "logprob": -norm, "bytes": None}]
    reply = chat_reply(max(logits, key=logits.get))
    if with_tops:
        reply["choices"][0]["logprobs"] = {"content": [{"token": "A", "logprob": tops[0]["logprob"], "bytes": None,
                                                        "top_logprobs": tops}]}
    return reply


class Script:
    def __init__(self):
        self.with_tops = True

    def __call__(self, n, body):
        if body["model"] != "judge":
            return ("ok", ANSWERS[body["model"]])
        return ("reply", toy_judge_reply(prompt_of(body), self.with_tops))


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setattr(RequestRunner, "retry_base_s", 0.01)
    with FakeEndpoint(Script()) as server:
        yield server


SHORT_JUDGE = """name = "short"\nversion = 1\nsystem = "Pick the better answer."
user = "Q: {{ question }}\\nA: {{ answer_a }}\\nB: {{ answer_b }}"
[verdict]\nregex = '\\[\\[([ABC])\\]\\]'\nlabels = { A = "A", B = "B", C = "tie" }
"""  # short enough for the tiny model's 256-token context


def judge(folder, url, judge_url=None, prompt="mtbench-pairwise"):
    (folder / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    models = "".join(f'[models.{m}]\nsource = "openai:{m}"\nbase_url = "{url}"\nmax_retries = 0\n' for m in ANSWERS)
    (folder / "evalkit.toml").write_text(f"""[project]\nstore = "store.db"\n{models}
[judges.toy]
prompt = "{prompt}"
method = "logprobs"
position = "calibrated"
prompt_set = "prompts.jsonl"
model = {{ source = "openai:judge", base_url = "{judge_url or url}", max_retries = 0 }}
[suites.default]\ntasks = ["news"]\n""")
    config = load_config(folder / "evalkit.toml")
    store = Store(config.store)
    return store, run_judge(config, list(ANSWERS), "toy", None, store, ConsoleUI(quiet=True))


def test_the_calibrated_rule_recovers_the_preference_the_strict_rule_reads_as_ties(tmp_path, endpoint):
    store, summary = judge(tmp_path, endpoint.url)
    assert (summary.wanted, summary.judged, summary.unscored, summary.missing) == (6, 6, 0, 0)
    pairs = judged_pairs(store)
    assert len(pairs) == 3 and all(p.final == "tie" for p in pairs)  # "A" in both orders: the first-shown pull
    assert all(p.final == "a" for p in under_rule(pairs, "calibrated"))  # model_a = "good" (name order)
    rows = judgment_rows(store)
    assert all(abs(sum(r["probs"]) - 1) < 1e-9 and r["probs"][0] > r["probs"][1] for r in rows)
    judge_calls = [body for _, body, _ in endpoint.requests if body["model"] == "judge"]
    assert all(b["logprobs"] is True and b["top_logprobs"] == 20 and b["max_tokens"] == 1 for b in judge_calls)
    assert all(prompt_of(b).endswith("Reply with your final verdict only: one of A, B, C, and nothing else.")
               for b in judge_calls)


def test_the_console_summary_shows_both_rules_and_their_agreement(tmp_path, endpoint):
    from rich.console import Console

    from evalkit.judge.cli import print_judge_summary

    store, summary = judge(tmp_path, endpoint.url)
    console = Console(record=True, width=200)
    print_judge_summary(store, summary, 7, console)
    text = console.export_text()
    calibrated, strict = text.index("calibrated rule (the judge's setting)"), text.index("strict rule (shown beside it)")
    assert calibrated < strict  # the judge's own rule first
    rows = [line for line in text.splitlines() if "poor vs good" in line]
    assert "0 / 0 / 3" in rows[0] and "0 / 3 / 0" in rows[1]  # calibrated: good wins all; strict: all ties
    assert "strict vs calibrated, agreeing items (with ties | without): 0 / 3" in text


def test_an_endpoint_that_returns_no_top_logprobs_leaves_judgments_missing_with_the_reason(tmp_path, endpoint):
    endpoint.behave.with_tops = False
    store, summary = judge(tmp_path, endpoint.url)
    assert summary.judged == 0 and summary.missing == 6
    assert any("no top_logprobs" in reason for reason in summary.failures), summary.failures
    assert judgment_rows(store) == [] and store.count_responses() == 2 * len(PROMPTS)  # the answers only


def test_asking_for_top_logprobs_leaves_the_cache_keys_of_every_other_request_as_they_were():
    from dataclasses import asdict

    from evalkit.types import GenerationRequest, request_key, stable_hash

    plain = GenerationRequest(prompt="q", chat=True)
    before = {k: v for k, v in asdict(plain).items() if k != "top_logprobs"}  # the request as stored before the field
    assert request_key("fp", plain) == stable_hash({"model": "fp", "request": before})
    assert request_key("fp", GenerationRequest(prompt="q", chat=True, top_logprobs=20)) != request_key("fp", plain)


def test_a_judge_served_by_evalkit_serve_is_scored_from_the_top_logprobs_it_returns(tmp_path, endpoint, tiny_model_dir):
    """The real server and the real model: each stored verdict is what the model's own next-token
    distribution after the judge prompt gives (its 20 most probable tokens, the choices among them)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalkit.backends.hf import HFBackend
    from evalkit.config import ModelSpec
    from evalkit.judge.methods import TOP_LOGPROBS, top_logprobs_outcome
    from evalkit.judge.prompts import load_judge_template, render_judge
    from evalkit.serve.server import Server
    from evalkit.serve.service import ModelService

    (tmp_path / "judges").mkdir()
    (tmp_path / "judges" / "short.toml").write_text(SHORT_JUDGE)
    backend = HFBackend(ModelSpec(name="tiny", source=str(tiny_model_dir)), tiny_model_dir)
    with Server(ModelService(backend, "judge")) as served:
        store, summary = judge(tmp_path, endpoint.url, judge_url=served.url, prompt="short")
    assert summary.missing == 0 and summary.judged == 6
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    template = load_judge_template("short", tmp_path)
    scored = 0
    questions = {p["id"]: p["prompt"] for p in PROMPTS}
    for row in judgment_rows(store):
        first, second = (ANSWERS[row["model_a"]], ANSWERS[row["model_b"]])[:: 1 if row["position"] == "ab" else -1]
        system, user = render_judge(template, questions[row["prompt_id"]], first, second, None)
        messages = [{"role": "system", "content": system},
                    {"role": "user", "content": f"{user}\n\n{template.logprob_instruction}"}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            logprobs = model(**ids).logits[0, -1].log_softmax(-1)
        values, top_ids = logprobs.topk(TOP_LOGPROBS)
        expected = top_logprobs_outcome(template, {tokenizer.decode([i]): float(v) for i, v in zip(top_ids, values)})
        assert row["shown"] == expected.shown and row["error"] == expected.error
        if expected.probs is not None:
            scored += 1
            assert all(abs(a - b) < 1e-4 for a, b in zip(row["probs"], expected.probs))
    assert scored + summary.unscored == 6 and scored > 0  # some verdicts scored, so the comparison is not empty
