"""transformers' own "Loading weights" bar does not leak into evalkit's output: evalkit draws its own progress."""

from evalkit.backends.hf_load import load_model_and_tokenizer
from evalkit.config import model_spec


def test_loading_a_model_prints_no_library_bar(tiny_model_dir, capfd):
    import transformers

    transformers.utils.logging.enable_progress_bar()  # as a fresh process starts
    spec = model_spec("tiny", {"source": str(tiny_model_dir)}, "test")
    model, _, _ = load_model_and_tokenizer(spec, tiny_model_dir)
    assert model is not None
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out
