import pytest
import torch

from evalkit.backends.hf import HFBackend
from evalkit.config import ModelSpec
from evalkit.serve.server import Server
from evalkit.serve.service import ModelService

MAX_LENGTH = 48  # small, so long documents need several rolling windows and length limits are easy to reach


def tiny_backend(folder, max_length=MAX_LENGTH, batch_size=3):
    return HFBackend(ModelSpec(name="tiny", source=str(folder), batch_size=batch_size, max_length=max_length), folder)


@pytest.fixture(scope="module")
def direct(tiny_model_dir):
    return tiny_backend(tiny_model_dir)


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    with Server(ModelService(tiny_backend(tiny_model_dir), "tiny")) as running:
        yield running


@pytest.fixture(scope="module")
def url(server):
    return server.url


@pytest.fixture(scope="module")
def eos_prompts(direct):
    """Real token-id prompts after which the tiny model's most likely next token is end-of-sequence:
    where a server that stops at EOS returns one token too few to a scoring client."""
    eos = direct.tokenizer.eos_token_id
    candidates = [[a, b] for a in range(5, len(direct.tokenizer)) for b in (5, 77, 300)]
    with torch.inference_mode():
        hidden = direct.decoder(input_ids=torch.tensor(candidates)).last_hidden_state[:, -1]
        best = direct._logprobs(hidden).argmax(dim=-1)
    found = [candidates[i] for i in (best == eos).nonzero().flatten().tolist()]
    assert len(found) >= 2, "no prompt found after which EOS is the argmax; widen the search"
    return found
