"""Prompt sets and the models' answers to them: what judges compare and people vote on.

    promptsets.py  promptsets/*.toml and user .jsonl files → PromptSet (validated, seeded limit)
    generate.py    answers where missing, through the cached fetch; stored in the answers table
"""

from evalkit.answers.generate import Answer, collect_answers, stored_answers
from evalkit.answers.promptsets import Prompt, PromptSet, load_prompt_set

__all__ = ["Answer", "Prompt", "PromptSet", "collect_answers", "load_prompt_set", "stored_answers"]
