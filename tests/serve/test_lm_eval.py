"""lm-evaluation-harness itself as the client: `local-completions` pointed at `evalkit serve` gives what
lm-eval's own hf backend gives on the same model and items (MMLU- and GSM8K-shaped requests, plus
choices after which the model's most likely next token is end-of-sequence)."""

import logging

import pytest

from evalkit.backends.hf import HFBackend
from evalkit.config import ModelSpec
from evalkit.serve.server import Server
from evalkit.serve.service import ModelService

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is in the dev extra: pip install -e '.[dev]'")
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from lm_eval.models.openai_completions import LocalCompletionsAPI

MMLU = ("The following are multiple choice questions (with answers) about high school geography.\n\n"
        "Which of the following is the capital of France?\nA. Rome\nB. Paris\nC. Madrid\nD. Berlin\nAnswer:")
MMLU_2 = ("The following are multiple choice questions (with answers) about elementary mathematics.\n\n"
          "What is 2 + 2?\nA. 3\nB. 5\nC. 4\nD. 22\nAnswer:")
GSM8K = ["Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
         "How many clips did Natalia sell altogether in April and May?\nAnswer:",
         "Question: The quick brown fox jumps over 3 dogs. How many dogs?\nAnswer:"]
GSM8K_UNTIL = {"until": ["Question:", "</s>", "<|im_end|>"], "do_sample": False, "temperature": 0.0,
               "max_gen_toks": 24}


@pytest.fixture(scope="module")
def clients(tiny_model_dir, direct):
    backend = HFBackend(ModelSpec(name="tiny", source=str(tiny_model_dir)), tiny_model_dir)  # its own length
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    with Server(ModelService(backend, "tiny")) as server:
        served = LocalCompletionsAPI(base_url=f"{server.url}/completions", model="tiny", tokenizer=str(tiny_model_dir),
                                     tokenizer_backend="huggingface", max_length=backend.max_length,
                                     max_gen_toks=GSM8K_UNTIL["max_gen_toks"], num_concurrent=1, batch_size=1)
        reference = HFLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", batch_size=1,
                         max_length=backend.max_length)
        yield served, reference


def instances(kind, arguments):
    return [Instance(request_type=kind, doc={}, arguments=a, idx=i) for i, a in enumerate(arguments)]


def test_local_completions_loglikelihoods_equal_lm_evals_hf_backend(clients, direct, eos_prompts):
    served, reference = clients
    pairs = [(prompt, f" {letter}") for prompt in (MMLU, MMLU_2) for letter in "ABCD"]
    # Choices after which EOS is the most likely token: the case a server that stops at EOS gets wrong.
    decode = direct.tokenizer.decode
    eos_pairs = [(decode(p[:1]), decode(p[1:])) for p in eos_prompts
                 if direct.encode(decode(p[:1])) + direct.encode(decode(p[1:])) == p][:4]
    assert eos_pairs, "no EOS-argmax prompt survives a text round trip"
    requests = instances("loglikelihood", pairs + eos_pairs)
    got, want = served.loglikelihood(requests), reference.loglikelihood(requests)
    assert len(got) == len(want) == len(requests)
    for (logprob, greedy), (ref_logprob, ref_greedy), pair in zip(got, want, pairs + eos_pairs):
        assert logprob == pytest.approx(ref_logprob, abs=1e-3), pair
        assert greedy == ref_greedy, pair
    assert any(v != 0.0 for v, _ in got)


def test_local_completions_greedy_generations_equal_lm_evals_hf_backend(clients):
    served, reference = clients
    requests = instances("generate_until", [(prompt, dict(GSM8K_UNTIL)) for prompt in GSM8K])
    got = served.generate_until(requests)
    want = reference.generate_until(instances("generate_until", [(prompt, dict(GSM8K_UNTIL)) for prompt in GSM8K]))
    assert got == want
    assert any(text.strip() for text in got), "every generation was empty: the comparison would prove nothing"
