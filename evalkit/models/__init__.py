"""Models: where a configured model comes from, and the handle every feature runs it through.

    sources.py    a spec's source (folder, hub id, .gguf, embedded) → a local folder and a fingerprint
    handle.py     ModelHandle (the backend loads on the first cache miss) and fetch_responses, the
                  cached, committed-as-it-finishes fetch that run, answers, judges and serve all use
    parallel.py   the process world under `accelerate launch`: shards, barriers, rank 0
    ray_cluster.py, ray_pool.py, ray_worker.py
                  `--ray ADDRESS`: workers on a Ray cluster compute, this process alone commits
"""

from evalkit.models.handle import ModelHandle, chat_renderer, endpoint_handle, fetch_responses
from evalkit.models.sources import ResolvedModel, fingerprint, resolve

__all__ = ["ModelHandle", "ResolvedModel", "chat_renderer", "endpoint_handle", "fetch_responses", "fingerprint", "resolve"]
