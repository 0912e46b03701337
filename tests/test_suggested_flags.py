"""Every option a message suggests exists: each `--flag` in a string of evalkit's code is an option of
`evalkit` or of one of its commands, and one named after `evalkit COMMAND` is that command's own."""

import argparse
import ast
import re
from pathlib import Path

from evalkit.cli import build_parser

PACKAGE = Path(__file__).resolve().parent.parent / "evalkit"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9](?![\w-])")
OTHER_PROGRAMS = {"pip", "git", "accelerate", "torchrun", "uv", "pytest", "vllm", "ray"}  # their flags are theirs
COMMAND_FLAG = re.compile(r"`evalkit ([a-z][a-z-]*)(?: [a-z][a-z-]*)?((?: [^`]*?)?)`")


def options_by_command() -> dict[str, set[str]]:
    parser = build_parser()
    found = {"": {o for action in parser._actions for o in action.option_strings}}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = {o for a in sub._actions for o in a.option_strings}
                for inner in sub._actions:  # `evalkit train sft`
                    if isinstance(inner, argparse._SubParsersAction):
                        for stage, leaf in inner.choices.items():
                            found[name] |= {o for a in leaf._actions for o in a.option_strings}
    return found


def message_strings():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
                yield path, node.lineno, text
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield path, node.lineno, node.value


def evalkit_flags(text: str) -> list[str]:
    """The flags of a string that are not another program's (`pip install --no-deps`, `git status --porcelain`)."""
    flags, ours = [], True
    for word in re.split(r"[\s`'\"(]+", text):
        if word in OTHER_PROGRAMS:
            ours = False
        elif word == "evalkit":
            ours = True
        elif ours:
            flags += FLAG.findall(word)
    return flags


def test_every_suggested_flag_exists_in_help():
    options = options_by_command()
    every = set().union(*options.values()) | {"--help"}
    missing = []
    for path, line, text in message_strings():
        if " " not in text:  # an argv element (`git status --porcelain`) or an option's own name, not a message
            continue
        for flag in evalkit_flags(text):
            if flag not in every:
                missing.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {flag}")
        for command, rest in COMMAND_FLAG.findall(text):
            for flag in FLAG.findall(rest):
                if command in options and flag not in options[command] | options[""] | {"--help"}:
                    missing.append(f"{path.relative_to(PACKAGE.parent)}:{line}: `evalkit {command}` has no {flag}")
    assert not missing, "messages suggest options that do not exist:\n" + "\n".join(dict.fromkeys(missing))


def test_the_check_sees_a_made_up_flag():
    assert evalkit_flags("rerun with --no-such-flag") == ["--no-such-flag"]
    assert evalkit_flags("pip install --no-deps x; then `evalkit run --models a`") == ["--models"]
    assert "--no-such-flag" not in set().union(*options_by_command().values())
    assert COMMAND_FLAG.findall("use `evalkit ratings --prior 1`") == [("ratings", " --prior 1")]
    assert COMMAND_FLAG.findall("`evalkit train sft --set a=1`") == [("train", " --set a=1")]
    options = options_by_command()
    assert "--prior" in options["ratings"] and "--prior" not in options["report"]
