"""The local judges on tiny random models: verdict-token probabilities from the transformers
backend, and a reward model (sequence classification, one label) scoring each answer."""

import math
import re

import pytest

from evalkit.config import load_config
from evalkit.judge import run_judge as judge_pass
from evalkit.judge.verdicts import judged_pairs, judgment_rows
from evalkit.progress.console import ConsoleUI
from evalkit.store.db import Store

SHORT_JUDGE = '''name = "short"
version = 1
system = "Pick the better answer."
user = "Q: {{ question }}\\nA: {{ answer_a }}\\nB: {{ answer_b }}"
[verdict]
regex = '\\[\\[([ABC])\\]\\]'
labels = { A = "A", B = "B", C = "tie" }
[logprobs]
prefix = "Verdict: [["
choices = ["A", "B", "C"]
'''
PROMPT_SET = '''name = "tiny"
version = 1
id = "{{ id }}"
prompt = "{{ prompt }}"
[[sources]]
kind = "file"
path = "tiny.jsonl"
[generate]
max_new_tokens = 6
'''


@pytest.fixture(scope="module")
def second_model(tmp_path_factory):
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny2") / "model", seed=1)


@pytest.fixture(scope="module")
def reward_model(tiny_model_dir, tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    folder = tmp_path_factory.mktemp("rm") / "model"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(3)  # model init uses the global RNG; test scaffolding only
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def project(folder, first, second, judge_table):
    (folder / "judges").mkdir(exist_ok=True)
    (folder / "judges" / "short.toml").write_text(SHORT_JUDGE)
    (folder / "promptsets").mkdir(exist_ok=True)
    (folder / "promptsets" / "tiny.toml").write_text(PROMPT_SET)
    (folder / "promptsets" / "tiny.jsonl").write_text(
        '{"id": "q1", "prompt": "What is 2 + 2?"}\n{"id": "q2", "prompt": "The capital of France is"}\n')
    (folder / "evalkit.toml").write_text(f"""
[project]
store = "store.db"
seed = 1
[models.one]
source = "{first}"
[models.two]
source = "{second}"
[judges.local]
prompt = "short"
prompt_set = "tiny"
{judge_table}
[suites.default]
tasks = ["news"]
""")
    return load_config(folder / "evalkit.toml")


def run_judge(config):
    store = Store(config.store)
    summary = judge_pass(config, ["one", "two"], "local", None, store, ConsoleUI(quiet=True))
    return store, summary


def test_logprob_judge_picks_the_most_probable_verdict_token(tmp_path, tiny_model_dir, second_model):
    from evalkit.backends.hf import HFBackend
    from evalkit.judge.methods import chat_renderer
    from evalkit.judge.prompts import load_judge_template, render_judge
    from evalkit.train import prepare_model
    from evalkit.types import LoglikelihoodRequest

    config = project(tmp_path, tiny_model_dir, second_model, 'model = "one"\nmethod = "logprobs"')
    store, summary = run_judge(config)
    assert summary.judged == 4 and summary.unscored == 0
    direct = HFBackend(config.model("one"), tiny_model_dir)
    render = chat_renderer(prepare_model(config, "one", store))
    template = load_judge_template("short", tmp_path)
    answers = {(m, p): a for m, p, a in store.db.execute("SELECT model, prompt_id, answer FROM answers")}
    questions = {"q1": "What is 2 + 2?", "q2": "The capital of France is"}
    for row in judgment_rows(store):
        first, second = ((row["model_a"], row["model_b"]) if row["position"] == "ab" else (row["model_b"], row["model_a"]))
        system, user = render_judge(template, questions[row["prompt_id"]], answers[(first, row["prompt_id"])],
                                    answers[(second, row["prompt_id"])], None)
        context = render(system, user) + "Verdict: [["
        scores = dict(zip("ABC", (r.logprob for _, r in sorted(direct.loglikelihood(
            [LoglikelihoodRequest(context, c) for c in "ABC"])))))
        best = max(scores, key=scores.get)
        assert row["shown"] == {"A": "A", "B": "B", "C": "tie"}[best]
        for choice, value in re.findall(r"([ABC])=(-?[\d.]+)", row["raw"]):
            assert float(value) == pytest.approx(scores[choice], abs=1e-4)
        total = sum(math.exp(v) for v in scores.values())  # the verdict probabilities: softmax over A, B, C
        assert row["probs"] == pytest.approx(tuple(math.exp(scores[c]) / total for c in "ABC"), abs=1e-6)
    assert all(p.probs_ab and p.probs_ba for p in judged_pairs(store))


def test_reward_judge_compares_scores_of_each_answer(tmp_path, tiny_model_dir, second_model, reward_model):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    config = project(tmp_path, tiny_model_dir, second_model, f'model = {{ source = "{reward_model}" }}\nmethod = "reward"')
    store, summary = run_judge(config)
    assert summary.judged == 4 and summary.unscored == 0
    model = AutoModelForSequenceClassification.from_pretrained(reward_model).eval()
    tokenizer = AutoTokenizer.from_pretrained(reward_model)
    prompts = {"q1": "What is 2 + 2?", "q2": "The capital of France is"}
    answers = {(m, p): a for m, p, a in store.db.execute("SELECT model, prompt_id, answer FROM answers")}

    def score(prompt_id, model_name):
        chat = [{"role": "user", "content": prompts[prompt_id]},
                {"role": "assistant", "content": answers[(model_name, prompt_id)]}]
        ids = tokenizer(tokenizer.apply_chat_template(chat, tokenize=False), return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            return float(model(**ids).logits[0, 0])

    for row in judgment_rows(store):
        a, b = score(row["prompt_id"], row["model_a"]), score(row["prompt_id"], row["model_b"])
        p_a = 1 / (1 + math.exp(-(a - b)))
        p_first = float(re.search(r"P\(A better\)=([\d.]+)", row["raw"]).group(1))
        assert p_first == pytest.approx(p_a if row["position"] == "ab" else 1 - p_a, abs=1e-5)
        assert row["verdict"] == ("a" if a > b else "b")
        assert row["probs"] == pytest.approx((p_first, 1 - p_first, 0.0), abs=1e-5)
    assert all(p.verdict_ab == p.verdict_ba == p.final for p in judged_pairs(store))  # a reward model has no order
