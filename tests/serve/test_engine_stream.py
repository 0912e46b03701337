"""The engine's per-token hook: every generated token reaches the caller's event loop, in order."""

import asyncio
from concurrent.futures import Future

from evalkit.serve.engine import Engine, _Job
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



def test_a_request_arriving_mid_batch_joins_it_with_its_own_answer(direct):
    engine = Engine(direct)
    late = GenerationRequest("A lazy dog", max_new_tokens=8)
    arrived: list[Future] = []

    def on_token(_token: int) -> None:  # on the model thread, while the first batch runs
        if not arrived:
            arrived.append(engine.put(_Job(Future(), request=late)))  # a client's request, now

    first = engine.put(_Job(Future(), request=GenerationRequest("The quick brown", max_new_tokens=30),
                             on_token=on_token))
    try:
        generation = first.result(timeout=120)
        joined = arrived[0].result(timeout=120)
    finally:
        engine.close()
    assert generation.n_tokens > 1
    assert engine.batches == [1] and engine.joined_running == 1  # one batch: the newcomer joined it
    assert joined.text == dict(direct.generate([late]))[0].text
