"""JSON Lines are split at newlines only: JSON keeps U+2028, U+2029 and U+0085 raw inside strings,
and Python's str.splitlines would break a row there (an MMLU management question holds one)."""

import json

from evalkit.tasks import load_task
from evalkit.config import TaskOptions

TASK = 'name = "toy"\nversion = 1\nkind = "perplexity"\n[[sources]]\nkind = "file"\npath = "d.jsonl"\n' \
       '[perplexity]\ntext = "{{ text }}"\n'


def test_separators_inside_strings_stay_in_their_row(tmp_path):
    texts = ["Functional structures help to create\u2028teamwork", "next\x85line\u2029too", "plain"]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
                                      encoding="utf-8")
    (tmp_path / "toy.toml").write_text(TASK)
    samples = load_task(str(tmp_path / "toy.toml")).load_samples(TaskOptions())
    assert [s.row["text"] for s in samples] == texts
