"""What each number on the page measures, in plain words, and why numbers with near names differ.

One note per measure, written once here; a page lists the notes of the measures it shows (a task metric's
base name, a held-out measurement of the training lineage), so no run needs a hand-written explanation.
"""

from __future__ import annotations

from collections.abc import Iterable

METRICS = {
    "acc": "the share of items where the right option gets the highest log-likelihood after the task's prompt, "
           "read as plain text (no chat template). Summed over the option's tokens, so a longer option loses "
           "log-likelihood for its length alone.",
    "acc_norm": "as acc, with each option's log-likelihood divided by its length in characters, so a long option "
                "is not marked down for its length; acc and acc_norm differ on items whose options differ in length.",
    "acc_norm_nospace": "as acc_norm, dividing by the option's length in characters without the space before it "
                        "(SmolLM2's own evaluation of MMLU in the cloze form, lighteval's mmlu_cf).",
    "mc2": "the probability the model gives the true answers, normalised over all the options (TruthfulQA MC2): "
           "a share of probability, not of items.",
    "token_perplexity": "e to the mean negative log-likelihood per token of the documents, as plain text. Per token of "
                        "this model's tokenizer, so it compares models that share one. Lower is better.",
    "word_perplexity": "e to the negative log-likelihood of the documents per word (whitespace-separated), as plain "
                       "text. Per word, so it does not depend on the tokenizer and is higher than the token "
                       "perplexity of the same text. Lower is better.",
    "byte_perplexity": "as word_perplexity, per UTF-8 byte. Lower is better.",
    "bits_per_byte": "the negative log-likelihood of the documents in bits per UTF-8 byte (log2 of the byte "
                     "perplexity). Lower is better.",
    "gsm8k_strict": "the share of problems whose number after the first \"#### \" in the output equals the "
                    "reference answer (lm-eval's strict match); an output with no number there counts as wrong and as "
                    "unscored.",
    "gsm8k_flexible": "the share of problems whose last number in the output equals the reference answer "
                      "(lm-eval's flexible extract); more forgiving of format than gsm8k_strict.",
    "pass@1": "the share of problems whose generated code passes the problem's tests, run in the sandbox.",
    "exact_match": "the share of items whose output, after the task's normalisation, equals a reference.",
}

HELDOUT = {
    "assistant_perplexity": "assistant-turn perplexity (training lineage): per-token perplexity of the assistant "
                            "replies of held-out examples from the SFT recipe's own data, inside the chat template, "
                            "before and after training. It measures how well the model learnt that data, format "
                            "included, so it falls much further than a task's perplexity on other plain text "
                            "(which is also per word, not per token).",
    "likelihood_accuracy": "prefers chosen (training lineage): on the preference recipe's held-out pairs, the share "
                           "where the model gives the chosen reply a higher summed log-probability than the rejected "
                           "one, the prompt given as a user turn in the chat template. A choice task over the same "
                           "pairs reads them as plain text after its own prompt, so its acc can differ.",
    "reward_accuracy": "DPO reward accuracy (training lineage): the share of held-out pairs where training raised "
                       "the chosen reply's log-probability, relative to the parent, more than the rejected one's "
                       "(DPO's implicit reward). It measures the change from the parent, not which reply the model "
                       "prefers, so it can sit well above \"prefers chosen\".",
}


def base_metric(name: str) -> str:
    """acc/<subject> is acc on a slice: one note."""
    return name.split("/", 1)[0]


def measures_section(metrics: Iterable[str], heldout: Iterable[str] = ()) -> list[str]:
    """The "What the numbers measure" lines for the metrics and held-out measurements a page shows."""
    shown_metrics = list(dict.fromkeys(base_metric(m) for m in metrics if base_metric(m) in METRICS))
    shown_heldout = list(dict.fromkeys(h for h in heldout if h in HELDOUT))
    if not shown_metrics and not shown_heldout:
        return []
    lines = ["## What the numbers measure", "",
             "Numbers with near names measure different things; each one on this page, in plain words:", ""]
    lines += [f"- **{name}**: {METRICS[name]}" for name in shown_metrics]
    lines += [f"- {HELDOUT[key]}" for key in shown_heldout]
    return lines
