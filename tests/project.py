"""Build a throwaway evalkit project (config, task file, data) around the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

DOCS = [
    "The quick brown fox jumps over the lazy dog. " * (i % 4 + 1) + f"Document number {i} ends here."
    for i in range(24)
]


def write_project(root: Path, model_dir: Path, n_docs: int = 24, batch_size: int = 4, extra_toml: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tasks").mkdir(exist_ok=True)
    with (root / "docs.jsonl").open("w") as handle:
        for i, text in enumerate(DOCS[:n_docs]):
            handle.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    (root / "tasks" / "toyppl.toml").write_text(
        'name = "toyppl"\nversion = 1\nkind = "perplexity"\nid_field = "id"\n'
        '[[sources]]\nkind = "file"\npath = "../docs.jsonl"\n'
        '[perplexity]\ntext = "{{ text }}"\n'
    )
    config = root / "evalkit.toml"
    config.write_text(
        f'[project]\nstore = "store.db"\nreports = "reports"\nseed = 7\n\n'
        f'[models.tiny]\nsource = "{model_dir}"\nbatch_size = {batch_size}\n\n'
        f'[models.tiny16]\nsource = "{model_dir}"\ndtype = "bfloat16"\nbatch_size = {batch_size}\n\n'
        f'[suites.default]\ntasks = ["toyppl"]\n' + extra_toml
    )
    return config
