"""Held-out measurements that show whether a stage did what it is for, before and after training.

- SFT: perplexity of the assistant turns (the tokens the loss covers) on held-out examples
  of the training distribution. Lower after SFT means it learnt that distribution.
- Preferences: on held-out pairs, how often the model gives the chosen reply a higher
  log-likelihood than the rejected one (summed, and per token), and after training
  DPO's own implicit-reward accuracy: log π/π_ref of chosen above that of rejected,
  with the parent as π_ref.
Both use the same marked chat template as training, so the scored tokens are exactly
the assistant reply and its end-of-turn token.
"""

from __future__ import annotations

import math
from typing import Any

from evalkit.scoring import stats


def token_rows(tokenizer, template: str, conversation: list[dict], prompt: list[dict] | None, max_length: int):
    """(ids, scored mask): the mask covers assistant tokens, only those after `prompt` when one is given."""
    encoded = tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
    ids, mask = list(encoded["input_ids"]), list(encoded["assistant_masks"])
    if prompt is not None:
        start = len(tokenizer.apply_chat_template(prompt, chat_template=template, tokenize=True, return_dict=True,
                                                  add_generation_prompt=True)["input_ids"])
        mask = [m if i >= start else 0 for i, m in enumerate(mask)]
    return ids[:max_length], mask[:max_length]


def sequence_logprobs(model, rows: list[tuple[list[int], list[int]]], batch_size: int) -> list[tuple[float, int]]:
    """Summed log-probability of the masked tokens of each row, and how many there are."""
    import torch

    out = []
    model.eval()
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        attention = torch.zeros_like(ids)
        scored = torch.zeros_like(ids)
        for i, (row, mask) in enumerate(chunk):
            ids[i, : len(row)], attention[i, : len(row)], scored[i, : len(mask)] = (
                torch.tensor(row), 1, torch.tensor(mask))
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        weights = scored[:, 1:].float()
        for total, count in zip((logprobs * weights).sum(1).tolist(), weights.sum(1).tolist()):
            out.append((total, int(count)))
    return out


def sft_perplexity(model, tokenizer, template: str, examples: list, max_length: int, batch_size: int) -> dict:
    rows = [token_rows(tokenizer, template, e.data["messages"], None, max_length) for e in examples]
    scores = sequence_logprobs(model, rows, batch_size)
    total, tokens = sum(s for s, _ in scores), sum(n for _, n in scores)
    return {"assistant_perplexity": math.exp(-total / tokens), "nll_per_token": -total / tokens, "tokens": tokens,
            "n": len(examples)}


def document_perplexity(model, tokenizer, examples: list, max_length: int, batch_size: int) -> dict:
    """Token perplexity of held-out plain documents, each cut into max_length windows (pretraining)."""
    rows = []
    for e in examples:
        ids = tokenizer(e.data["text"], add_special_tokens=False)["input_ids"]
        rows += [(ids[i : i + max_length], [1] * len(ids[i : i + max_length]))
                 for i in range(0, len(ids), max_length) if len(ids[i : i + max_length]) > 1]
    scores = sequence_logprobs(model, rows, batch_size)
    total, tokens = sum(s for s, _ in scores), sum(n for _, n in scores)
    return {"text_perplexity": math.exp(-total / tokens), "nll_per_token": -total / tokens, "tokens": tokens,
            "n": len(examples)}


def preference_scores(model, tokenizer, template: str, examples: list, max_length: int,
                      batch_size: int) -> list[tuple[float, int, float, int]]:
    """(logp chosen, tokens, logp rejected, tokens) per held-out pair."""
    rows = []
    for e in examples:
        prompt = e.data["prompt"]
        rows.append(token_rows(tokenizer, template, prompt + e.data["chosen"], prompt, max_length))
        rows.append(token_rows(tokenizer, template, prompt + e.data["rejected"], prompt, max_length))
    scores = sequence_logprobs(model, rows, batch_size)
    return [(*scores[i], *scores[i + 1]) for i in range(0, len(scores), 2)]


def _rate(successes: int, n: int) -> dict[str, Any]:
    estimate = stats.wilson_ci(successes, n)
    return {"value": estimate.value, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high, "n": n}


def preference_metrics(scores: list[tuple[float, int, float, int]],
                       reference: list[tuple[float, int, float, int]] | None = None) -> dict[str, Any]:
    n = len(scores)
    metrics = {
        "likelihood_accuracy": _rate(sum(c > r for c, _, r, _ in scores), n),
        "per_token_accuracy": _rate(sum(c / max(nc, 1) > r / max(nr, 1) for c, nc, r, nr in scores), n),
        "mean_logp_margin": sum(c - r for c, _, r, _ in scores) / n,
    }
    if reference is not None:
        margins = [(c - rc) - (r - rr) for (c, _, r, _), (rc, _, rr, _) in zip(scores, reference)]
        metrics["reward_accuracy"] = _rate(sum(m > 0 for m in margins), n)
        metrics["mean_reward_margin"] = sum(margins) / n
    return metrics


def reward_scores(model, tokenizer, template: str, examples: list, max_length: int) -> list[tuple[float, float]]:
    """(score of chosen, score of rejected) per held-out pair, one sequence at a time (no padding to get wrong)."""
    import torch

    model.eval()
    out = []
    for e in examples:
        pair = []
        for reply in (e.data["chosen"], e.data["rejected"]):
            ids, _ = token_rows(tokenizer, template, e.data["prompt"] + reply, None, max_length)
            with torch.inference_mode():
                pair.append(float(model(input_ids=torch.tensor([ids])).logits[0, 0]))
        out.append((pair[0], pair[1]))
    return out


def reward_metrics(scores: list[tuple[float, float]]) -> dict[str, Any]:
    return {"reward_accuracy": _rate(sum(c > r for c, r in scores), len(scores)),
            "mean_score_margin": sum(c - r for c, r in scores) / len(scores)}
