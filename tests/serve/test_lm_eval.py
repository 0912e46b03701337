"""lm-evaluation-harness itself as the client: `local-completions` and `local-chat-completions` pointed at
`evalkit serve` give what lm-eval's own hf backend gives on the same model and items (MMLU- and
GSM8K-shaped requests, choices after which the model's most likely next token is end-of-sequence, and
chat histories as lm-eval builds them with --apply_chat_template)."""

import logging

import pytest

from evalkit.backends.hf import HFBackend
from evalkit.config import ModelSpec
from evalkit.serve.server import Server
from evalkit.serve.service import ModelService

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is in the dev extra: pip install -e '.[dev]'")
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI

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
def full_length(tiny_model_dir):
    backend = HFBackend(ModelSpec(name="tiny", source=str(tiny_model_dir)), tiny_model_dir)  # its own length
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    with Server(ModelService(backend, "tiny")) as server:
        yield server, backend.max_length


@pytest.fixture(scope="module")
def clients(tiny_model_dir, full_length):
    server, max_length = full_length
    served = LocalCompletionsAPI(base_url=f"{server.url}/completions", model="tiny", tokenizer=str(tiny_model_dir),
                                 tokenizer_backend="huggingface", max_length=max_length,
                                 max_gen_toks=GSM8K_UNTIL["max_gen_toks"], num_concurrent=1, batch_size=1)
    reference = HFLM(pretrained=str(tiny_model_dir), device="cpu", dtype="float32", batch_size=1,
                     max_length=max_length)
    return served, reference


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


def chats() -> list[list[dict]]:
    """The chat histories lm-eval builds with --apply_chat_template: one user turn, a system prompt, and
    the few-shot examples as earlier turns (--fewshot_as_multiturn)."""
    shot = [{"role": "user", "content": GSM8K[1]}, {"role": "assistant", "content": " 3 dogs. The answer is 3."}]
    return [[{"role": "user", "content": GSM8K[0]}],
            [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": GSM8K[1]}],
            shot + [{"role": "user", "content": GSM8K[0]}]]


def test_local_chat_completions_greedy_generations_equal_lm_evals_hf_backend(clients, full_length):
    (_, reference), (server, _) = clients, full_length
    chat_client = LocalChatCompletion(base_url=f"{server.url}/chat/completions", model="tiny",
                                      max_gen_toks=GSM8K_UNTIL["max_gen_toks"], num_concurrent=1)
    sent = instances("generate_until", [(chat_client.apply_chat_template(c), dict(GSM8K_UNTIL)) for c in chats()])
    rendered = instances("generate_until", [(reference.apply_chat_template(c), dict(GSM8K_UNTIL)) for c in chats()])
    got, want = chat_client.generate_until(sent), reference.generate_until(rendered)
    assert got == want
    assert sum(bool(text.strip()) for text in got) >= 2, f"too few non-empty generations to compare: {got}"
