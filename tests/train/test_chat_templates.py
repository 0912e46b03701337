from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.train.chat_templates import (
    SMOLLM2,
    SMOLLM2_MARKED,
    has_markers,
    training_template,
)

REPO = Path(__file__).resolve().parents[2]

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}],
    [{"role": "user", "content": "a\nb"}, {"role": "assistant", "content": "c"}, {"role": "user", "content": "d"},
     {"role": "assistant", "content": "e  f\n"}],
    [{"role": "user", "content": "Only a question"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
     {"role": "user", "content": "u2"}],
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("generation_prompt", [False, True])
def test_marked_smollm2_template_renders_exactly_like_the_original(tokenizer, conversation, generation_prompt):
    def render(template):
        return tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False,
                                             add_generation_prompt=generation_prompt)

    assert has_markers(SMOLLM2_MARKED) and not has_markers(SMOLLM2)
    assert render(SMOLLM2_MARKED) == render(SMOLLM2)


@pytest.mark.slow
def test_shipped_template_is_the_embedded_models_own():
    from evalkit.config import ModelSpec
    from evalkit.models.sources import resolve

    # converts the GGUF on first use (a minute), then reads the cached folder
    folder = resolve(ModelSpec(name="base", source="embedded:smollm2-135m-instruct"), REPO).folder
    assert (folder / "chat_template.jinja").read_text().strip() == SMOLLM2.strip()


def expected_assistant_tokens(tokenizer, conversation, template) -> list[int]:
    """Independently of the markers: tokens whose characters lie in an assistant reply or its <|im_end|>."""
    text = tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False)
    spans, cursor = [], 0
    for message in conversation:
        header = f"<|im_start|>{message['role']}\n"
        start = text.index(header, cursor) + len(header)
        end = start + len(message["content"]) + len("<|im_end|>")
        assert text[end - len("<|im_end|>"):end] == "<|im_end|>"
        if message["role"] == "assistant":
            spans.append((start, end))
        cursor = end
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return [int(any(s <= a and b <= e for s, e in spans)) for a, b in encoded["offset_mapping"]]


@pytest.mark.parametrize("conversation", CONVERSATIONS[:3])
def test_assistant_mask_is_exactly_the_replies_and_their_end_token(tokenizer, conversation):
    encoded = tokenizer.apply_chat_template(conversation, chat_template=SMOLLM2_MARKED, tokenize=True,
                                            return_dict=True, return_assistant_tokens_mask=True)
    assert list(encoded["assistant_masks"]) == expected_assistant_tokens(tokenizer, conversation, SMOLLM2)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    masked = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert masked.count(end) == sum(m["role"] == "assistant" for m in conversation)


def test_training_template_choice(tokenizer, tmp_path):
    assert training_template(tokenizer) == tokenizer.chat_template  # the tiny model's own is marked
    tokenizer_copy = type(tokenizer).from_pretrained(tokenizer.name_or_path)
    tokenizer_copy.chat_template = SMOLLM2
    assert training_template(tokenizer_copy) == SMOLLM2_MARKED
    tokenizer_copy.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(ConfigError, match="no marked copy"):
        training_template(tokenizer_copy)
    unmarked = tmp_path / "plain.jinja"
    unmarked.write_text(SMOLLM2)
    with pytest.raises(ConfigError, match="no {% generation %} markers"):
        training_template(tokenizer_copy, str(unmarked))
    (tmp_path / "marked.jinja").write_text(SMOLLM2_MARKED)
    assert training_template(tokenizer_copy, "marked.jinja", tmp_path) == SMOLLM2_MARKED
