"""The README's one-line example runs for a newcomer offline: its models and tasks are what `pip install` brings,
with no EVALKIT_DATA_DIR and no hub."""

import re
import shlex
from pathlib import Path

from evalkit.cli import build_parser
from evalkit.config import TaskOptions, builtin_config, load_config, split_names
from evalkit.tasks.loading import load_task

README = Path(__file__).resolve().parents[1] / "README.md"


def one_line_example() -> list[str]:
    """The first command of the README's "Using it" section, its continuation lines joined."""
    section = README.read_text(encoding="utf-8").split("## Using it", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    command = block.split("\n\n")[0].replace("\\\n", " ")
    return shlex.split(command, comments=True)


def test_the_one_line_example_needs_no_data_dir_and_no_hub(monkeypatch, tmp_path):
    monkeypatch.delenv("EVALKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("EVALKIT_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # a folder without evalkit.toml: the built-in default config
    words = one_line_example()
    assert words[:2] == ["evalkit", "run"], words
    args = build_parser().parse_args(words[1:])
    configured = load_config(builtin_config()).models
    for entry in split_names(args.models):
        assert entry.startswith("embedded:") or entry.split(":")[0] in configured, entry
    for name in split_names(args.tasks, "--tasks"):
        task = load_task(name)
        samples = task.load_samples(TaskOptions(limit=args.limit, num_fewshot=args.num_fewshot))
        options = {"seed": 1234, "num_fewshot": args.num_fewshot}
        assert samples and task.handler.requests(task, samples[0], options), name
