"""evalkit: evaluate fine-tuned text-generation models and train the candidates.

    import evalkit
    results = evalkit.evaluate(models=["base"], tasks=["mmlu"], limit=50)
    results.to_pandas()

The Python API lives in evalkit/api/; it is loaded on first use so that `import evalkit` (and the
command line's start-up) stays cheap.
"""

__version__ = "0.1.0"

_API = ("evaluate", "open_store", "Results", "StoreReader")


def __getattr__(name: str):
    if name in _API:
        from evalkit import api  # start-up time: pandas and the pipeline load only when the API is used

        return getattr(api, name)
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")


__all__ = ["__version__", *_API]
