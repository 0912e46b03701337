"""A reward model as a judge: score each answer, compare the scores.

Any folder holding an AutoModelForSequenceClassification with one label works
(what `evalkit train reward` writes, or a PEFT adapter over one). Prompt and
answer are formatted as a chat with the model's own template, as TRL's
RewardTrainer formats conversational data, or as "prompt\\n\\nanswer" without one.
Answers are scored one at a time: no padding, so the score of a text does not
depend on what else is in the batch.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.backends.hf_load import pick_device, quiet_transformers
from evalkit.config import ModelSpec
from evalkit.errors import ModelError


class RewardScorer:
    def __init__(self, folder: Path, spec: ModelSpec):
        import torch
        from transformers import (
            AutoConfig,
            AutoModelForSequenceClassification,
            AutoTokenizer,
        )


        self.device = pick_device(spec.device)
        quiet_transformers()
        dtype = torch.float32 if spec.dtype == "auto" else getattr(torch, spec.dtype)
        try:
            if (Path(folder) / "adapter_config.json").exists():
                from peft import AutoPeftModelForSequenceClassification

                model = AutoPeftModelForSequenceClassification.from_pretrained(folder, num_labels=1, dtype=dtype)
            else:
                labels = AutoConfig.from_pretrained(folder).num_labels
                if labels != 1:
                    raise ModelError(f"reward model {spec.name!r} at {folder} has {labels} labels; a reward model "
                                     f"scores with one (AutoModelForSequenceClassification, num_labels=1)")
                model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=dtype)
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError) as err:
            raise ModelError(f"reward model {spec.name!r}: cannot load {folder}: {str(err).splitlines()[0]}") from None
        self.model = model.to(self.device).eval()
        self.use_template = bool(spec.chat_template and self.tokenizer.chat_template)
        self.max_length = getattr(model.config, "max_position_embeddings", None) or 2048

    def format(self, prompt: str, answer: str) -> str:
        if not self.use_template:
            return f"{prompt}\n\n{answer}"
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def score(self, items: list[tuple[str, str]], progress=None) -> dict[tuple[str, str], float]:
        """{(prompt, answer): reward} for every item."""
        import torch

        scores = {}
        with torch.inference_mode():
            for done, (prompt, answer) in enumerate(items, start=1):
                encoded = self.tokenizer(self.format(prompt, answer), return_tensors="pt", truncation=True,
                                         max_length=self.max_length, add_special_tokens=not self.use_template)
                logits = self.model(**{k: v.to(self.device) for k, v in encoded.items()}).logits
                scores[(prompt, answer)] = float(logits[0, 0])
                if progress:
                    progress(done, len(items))
        return scores
