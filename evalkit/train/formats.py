"""Rows in the common training formats → one canonical shape per stage, or an error naming file:line.

SFT examples become chat messages (so the loss can cover exactly the assistant turns);
preference examples become {"prompt": messages, "chosen": messages, "rejected": messages},
TRL's conversational preference format. Accepted inputs:

- chat:              {"messages": [{"role": ..., "content": ...}, ...]}
- prompt_completion: {"prompt": str | messages, "completion": str | messages}
- alpaca:            {"instruction": str, "input": str (optional), "output": str}
- preference:        {"prompt": str | messages, "chosen": str | messages, "rejected": str | messages},
                     or whole dialogues without a prompt ("\\n\\nHuman: ... \\n\\nAssistant: ...", as in HH-RLHF)

`columns` renames fields first (`{prompt = "input.messages"}` reads a nested field), and
`prompt_template` (Jinja over the row) builds the user turn from any fields.
"""

from __future__ import annotations

import re
from typing import Any

from evalkit.data.templates import render
from evalkit.errors import DataError
from evalkit.train.recipe import DataSettings

ROLES = ("system", "user", "assistant")
DIALOGUE_TURN = re.compile(r"\n\n(Human|Assistant): ")


def field_at(row: dict[str, Any], dotted: str, origin: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise DataError(f"{origin}: missing field {dotted!r} (named in data.columns); fields here: "
                            f"{', '.join(sorted(row))}")
        value = value[part]
    return value


def renamed(row: dict[str, Any], settings: DataSettings, origin: str) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if not k.startswith("_")}
    for name, path in settings.columns.items():
        out[name] = field_at(row, path, origin)
    if settings.prompt_template:
        try:
            out["prompt"] = render(settings.prompt_template, row)
        except Exception as err:  # StrictUndefined names the missing field
            raise DataError(f"{origin}: data.prompt_template cannot render this row ({err})") from None
    return out


def detect_format(row: dict[str, Any], origin: str) -> str:
    if "chosen" in row and "rejected" in row:
        return "preference"
    if "messages" in row:
        return "chat"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    raise DataError(f"{origin}: cannot tell the format from the fields {sorted(row)}; set data.format "
                    f"(chat, prompt_completion, alpaca, preference) and data.columns to map your field names")


def _text(value: Any, name: str, origin: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{origin}: {name} must be non-empty text, got {value!r:.80}")
    return value


def messages(value: Any, name: str, origin: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise DataError(f"{origin}: {name} must be a non-empty list of {{role, content}} messages, got {value!r:.80}")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise DataError(f"{origin}: {name}[{i}] needs a role in {', '.join(ROLES)}, got {message!r:.80}")
        out.append({"role": message["role"], "content": _text(message.get("content"), f"{name}[{i}].content", origin)})
    return out


def _turns(value: Any, name: str, role: str, origin: str) -> list[dict[str, str]]:
    """Text becomes one turn of `role`; a list is checked as messages."""
    if isinstance(value, str):
        return [{"role": role, "content": _text(value, name, origin)}]
    return messages(value, name, origin)


def _with_system(turns: list[dict[str, str]], system: str) -> list[dict[str, str]]:
    if system and turns[0]["role"] != "system":
        return [{"role": "system", "content": system}] + turns
    return turns


def sft_example(row: dict[str, Any], settings: DataSettings, origin: str) -> dict[str, Any]:
    row = renamed(row, settings, origin)
    kind = settings.format if settings.format != "auto" else detect_format(row, origin)
    if kind == "chat":
        turns = messages(row.get("messages"), "messages", origin)
    elif kind == "prompt_completion":
        turns = _turns(row.get("prompt"), "prompt", "user", origin) + _turns(row.get("completion"), "completion",
                                                                                "assistant", origin)
    elif kind == "alpaca":
        instruction = _text(row.get("instruction"), "instruction", origin)
        extra = row.get("input") or ""
        if not isinstance(extra, str):
            raise DataError(f"{origin}: input must be text, got {extra!r:.80}")
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        turns = [{"role": "user", "content": user},
                 {"role": "assistant", "content": _text(row.get("output"), "output", origin)}]
    else:
        raise DataError(f"{origin}: a {kind} row cannot train SFT; use chat, prompt_completion or alpaca data")
    if not any(t["role"] == "assistant" for t in turns):
        raise DataError(f"{origin}: no assistant turn, so nothing to learn; every example needs one")
    return {"messages": _with_system(turns, settings.system)}


def text_example(row: dict[str, Any], settings: DataSettings, origin: str) -> dict[str, Any]:
    """A plain document for continued pretraining: the `text` field (map another with data.columns)."""
    row = renamed(row, settings, origin)
    if settings.format not in ("auto", "text") or "text" not in row:
        raise DataError(f"{origin}: pretraining needs a text field (map yours with data.columns = "
                        f"{{ text = \"...\" }}); fields here: {', '.join(sorted(row))}")
    return {"text": _text(row["text"], "text", origin)}


def split_dialogue(text: str, name: str, origin: str) -> list[dict[str, str]]:
    """HH-RLHF style "\\n\\nHuman: ...\\n\\nAssistant: ..." text → messages."""
    parts = DIALOGUE_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        raise DataError(f"{origin}: {name} has no prompt field and is not a '\\n\\nHuman: ... \\n\\nAssistant: ...' "
                        f"dialogue; add a prompt (data.columns) or fix the row")
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[role], "content": content} for role, content in zip(parts[1::2], parts[2::2])]


def preference_example(row: dict[str, Any], settings: DataSettings, origin: str) -> dict[str, Any]:
    row = renamed(row, settings, origin)
    if settings.format not in ("auto", "preference") or "chosen" not in row or "rejected" not in row:
        raise DataError(f"{origin}: preference training needs chosen and rejected fields (map them with "
                        f"data.columns); fields here: {', '.join(sorted(row))}")
    if "prompt" in row:
        prompt = _turns(row["prompt"], "prompt", "user", origin)
        chosen = _turns(row["chosen"], "chosen", "assistant", origin)
        rejected = _turns(row["rejected"], "rejected", "assistant", origin)
    else:
        whole_chosen = split_dialogue(_text(row["chosen"], "chosen", origin), "chosen", origin)
        whole_rejected = split_dialogue(_text(row["rejected"], "rejected", origin), "rejected", origin)
        prompt, chosen, rejected = whole_chosen[:-1], whole_chosen[-1:], whole_rejected[-1:]
        if whole_rejected[:-1] != prompt or not prompt:
            raise DataError(f"{origin}: chosen and rejected dialogues do not share the same turns before the last "
                            f"one, so there is no common prompt; give an explicit prompt field")
    if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        raise DataError(f"{origin}: chosen and rejected must end with an assistant turn")
    if chosen == rejected:
        raise DataError(f"{origin}: chosen and rejected are identical, so the pair carries no preference; drop it")
    return {"prompt": _with_system(prompt, settings.system), "chosen": chosen, "rejected": rejected}


def example_text(example: dict[str, Any]) -> str:
    """All the text of a canonical example, for decontamination."""
    if "text" in example:
        return example["text"]
    turns = example.get("messages") or (example["prompt"] + example["chosen"] + example["rejected"])
    return "\n".join(t["content"] for t in turns)
