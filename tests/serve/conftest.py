import pytest

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
