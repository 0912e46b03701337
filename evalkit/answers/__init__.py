"""Prompt sets and the models' answers to them: what judges compare and people vote on.

    promptsets.py  promptsets/*.toml and user .jsonl files → PromptSet (validated, seeded limit)
    generate.py    answers where missing, through the cached fetch; stored in the answers table
    texts.py       the stored texts behind judged or voted pairs (style control reads them)
    cli.py         `evalkit answers`
"""

from evalkit.answers.generate import Answer, collect_answers, stored_answers
from evalkit.answers.promptsets import Prompt, PromptSet, load_prompt_set
from evalkit.answers.texts import MissingAnswersError, answer_texts, pair_texts

__all__ = ["Answer", "MissingAnswersError", "Prompt", "PromptSet", "answer_texts", "collect_answers",
           "load_prompt_set", "pair_texts", "stored_answers"]
