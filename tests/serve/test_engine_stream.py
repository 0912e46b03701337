"""The engine's per-token hook: every generated token reaches the caller's event loop, in order."""

import asyncio

from evalkit.serve.engine import Engine
from evalkit.types import GenerationRequest


def test_stream_delivers_each_token_and_leaves_batch_mates_alone(direct):
    backend = direct
    engine = Engine(backend)

    async def both():
        tokens, streamed = engine.generate_stream(GenerationRequest("The quick brown", max_new_tokens=12))
        plain = engine.generate_each([GenerationRequest("A lazy dog", max_new_tokens=12)])[0]
        generation, other = await streamed, await plain
        ids = []
        while not tokens.empty():
            ids.append(tokens.get_nowait())
        return generation, other, ids

    try:
        generation, other, ids = asyncio.run(both())
    finally:
        engine.close()
    assert len(ids) == generation.n_tokens > 0
    assert backend.tokenizer.decode(ids, skip_special_tokens=True) == generation.text
    alone = dict(backend.generate([GenerationRequest("A lazy dog", max_new_tokens=12)]))[0]
    assert other.text == alone.text
