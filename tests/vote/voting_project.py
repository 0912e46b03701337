"""A throwaway project for voting tests: evalkit.toml and a store holding stored answers.

Answers go straight into the `answers` table (its columns are the contract evalkit.answers.generate
writes), so these tests need no model and no generation run.
"""

from __future__ import annotations

import time
from pathlib import Path

from evalkit.store.db import Store

ANSWERS_DDL = """CREATE TABLE IF NOT EXISTS answers (
    model TEXT, fingerprint TEXT, prompt_set TEXT, prompt_id TEXT, prompt TEXT, answer TEXT, created REAL,
    PRIMARY KEY (model, prompt_set, prompt_id))"""

MODELS = ("base", "sft", "dpo")
# Each model's answers carry a codeword instead of its name, so a screen capture shows which
# answer is where while any model name on screen would mean the app leaked it.
CODEWORDS = {"base": "KESTREL", "sft": "HERON", "dpo": "OSPREY", "rlhf": "PLOVER"}


def prompt_text(i: int) -> str:
    return f"**Question {i}.** Explain in two sentences why the sky looks blue at noon (case {i})."


def answer_text(model: str, i: int) -> str:
    word = f"{CODEWORDS[model]}-{i}"
    body = "\n".join(f"- point {k} of {word}" for k in range(3))
    return f"## Answer {word}\n\nRayleigh scattering, says {word}.\n\n{body}"


def write_project(root: Path, models=MODELS, n_prompts: int = 4, prompt_set: str = "chat") -> Path:
    """evalkit.toml + store.db with every model's answer to each of n_prompts prompts."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "evalkit.toml"
    config.write_text('[project]\nstore = "store.db"\nreports = "reports"\nseed = 7\n')
    add_answers(root / "store.db", models, n_prompts, prompt_set)
    return config


def add_answers(store_path: Path, models, n_prompts: int, prompt_set: str = "chat") -> None:
    store = Store(store_path)
    store.db.execute(ANSWERS_DDL)
    rows = [(m, f"fp-{m}", prompt_set, f"p{i:02d}", prompt_text(i), answer_text(m, i), time.time())
            for m in models for i in range(n_prompts)]
    with store.transaction() as db:
        db.executemany("INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?)", rows)
    store.close()
