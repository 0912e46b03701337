"""Prompt formats: the same items asked another way, as a dimension of a run (`evalkit run --formats`).

A format is what it changes, on two axes:

    formulation   (multiple choice) how the question and its options are put: `mc` lists the options
                  with letters and scores the letter; `cloze` scores each answer's text after the
                  question. The task file's [formats.NAME] table holds the template keys that change
                  (prompt, choices, description ...); its `formats.native` names what [choice] is.
    presentation  `chat`: the prompt inside the model's chat template (the task description as the
                  system turn, examples and question in one user turn); `fewshot-multiturn`: each
                  few-shot example its own user and assistant turn. As lm-eval's
                  --apply_chat_template and --fewshot_as_multiturn build them: the answer follows the
                  assistant header with no delimiter.

A formulation also names the headline metric its row shows: lm-eval reads cloze by its acc or its
acc_norm (log-likelihood per character of the choice), SmolLM2's evaluation (lighteval's `mmlu_cf`)
by acc_norm_nospace (per character of the continuation, not counting its leading space) after its
own prompt. Names combine with "+": `cloze+chat` is the cloze formulation in the chat template.

The kinds registry below says which kinds can take which format; a formulation also needs the
task's declaration. A format's requests are new text, so they are cached under their own keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evalkit.data import fewshot
from evalkit.errors import ConfigError

NATIVE = "default"  # the row of a task as its file defines it: no variant, the plain task name


@dataclass(frozen=True)
class Format:
    name: str
    summary: str
    kinds: frozenset[str]
    formulation: str | None = None  # the task file's [formats.<formulation>] table
    headline: str | None = None  # the metric the format's row shows (None: the task's first primary)
    chat: bool = False
    fewshot_turns: bool = False


CHOICE = frozenset({"choice"})
PROMPTED = frozenset({"choice", "generate"})
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("mc", "letter choice: the options listed A, B, C, ...; the letter is scored (acc)", CHOICE,
           formulation="mc", headline="acc"),
    Format("cloze", "cloze: each answer's text scored after the question, unnormalised (acc)", CHOICE,
           formulation="cloze", headline="acc"),
    Format("cloze-norm", "cloze, read by lm-eval's acc_norm: log-likelihood per character of the answer", CHOICE,
           formulation="cloze", headline="acc_norm"),
    Format("cloze-smollm2", "SmolLM2's cloze (lighteval mmlu_cf prompt), per character without the leading "
           "space (acc_norm_nospace)", CHOICE,
           formulation="cloze-smollm2", headline="acc_norm_nospace"),
    Format("chat", "the prompt in the model's chat template; few-shot examples in the one user turn", PROMPTED,
           chat=True),
    Format("fewshot-multiturn", "the chat template with each few-shot example as its own user/assistant turns",
           PROMPTED, chat=True, fewshot_turns=True),
)}
FORMULATIONS = sorted({f.formulation for f in FORMATS.values() if f.formulation})


def parse(spec: str, where: str = "--formats") -> Format:
    """One --formats entry ("cloze", "cloze+chat") as one Format; an unknown or clashing part is one line
    naming `where` it was asked (the flag, or a suite's `formats` key)."""
    parts = [p.strip() for p in spec.split("+")]
    unknown = [p for p in parts if p not in FORMATS]
    if not spec.strip() or unknown:
        raise ConfigError(f"{where}: unknown format {(unknown or [spec])[0]!r}; known: {', '.join(FORMATS)} "
                          "(combine with +, e.g. cloze+chat; `evalkit run --help` describes them)")
    chosen = [FORMATS[p] for p in parts]
    formulations = [f for f in chosen if f.formulation]
    if len(formulations) > 1:
        raise ConfigError(f"{where} {spec}: {formulations[0].name} and {formulations[1].name} both say how the "
                          "options are put; combine one formulation with chat or fewshot-multiturn")
    if len(chosen) == 1:
        return chosen[0]
    head = formulations[0] if formulations else None
    kinds = frozenset.intersection(*(f.kinds for f in chosen))
    return Format("+".join(parts), "; ".join(f.summary for f in chosen), kinds,
                  formulation=head.formulation if head else None, headline=head.headline if head else None,
                  chat=any(f.chat for f in chosen), fewshot_turns=any(f.fewshot_turns for f in chosen))


def parse_list(text: str | None, where: str = "--formats") -> list[Format]:
    """--formats a,b,c → Formats in the order given, once each."""
    if text is None:
        return []
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ConfigError(f"{where} is empty; name formats such as mc,cloze,chat (known: {', '.join(FORMATS)})")
    return [parse(name, where) for name in names]


def of(task) -> Format | None:
    """The format a (variant) task runs in; None for the task as its file defines it."""
    return parse(task.format) if getattr(task, "format", "") else None


def renderer(options: dict[str, Any]) -> Callable[[list[dict[str, str]]], str]:
    """The model's chat template as a function of messages, which the runner puts in the options of a
    chat format (kinds know no model)."""
    render = options.get("chat_template")
    if render is None:
        raise ConfigError("a chat format needs the model's chat template, and none was given to this task "
                          "(run it through `evalkit run`)")
    return render


def messages(description: str, shots: list[tuple[str, str]], question: str, fmt: Format, target_delimiter: str,
             delimiter: str) -> list[dict[str, str]]:
    """lm-eval's chat prompt: the description as a system turn; the examples as user/assistant turns
    (fewshot-multiturn) or joined as plain text into the one user turn before the question (chat)."""
    turns = [{"role": "system", "content": description}] if description else []
    if fmt.fewshot_turns:
        for text, answer in shots:
            turns += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
        return turns + [{"role": "user", "content": question}]
    joined = "".join(text + target_delimiter + answer + delimiter for text, answer in shots)
    return turns + [{"role": "user", "content": joined + question}]


def chat_prompt(task, sample, options: dict[str, Any], fmt: Format, description: str,
                text_of: Callable[[dict], str], answer_of: Callable[[dict], str], target_delimiter: str) -> str:
    """The prompt of a chat format as the model's template renders it, ready for the answer."""
    shots = [(text_of(row), answer_of(row)) for row in fewshot.examples(task, sample, options)]
    turns = messages(description, shots, text_of(sample.row), fmt, target_delimiter, fewshot.settings(task).delimiter)
    return renderer(options)(turns)
