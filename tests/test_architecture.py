"""The folder tree is the architecture: packages depend only downwards, with no import circle, and
evalkit's own modules are imported at module level except where start-up time needs otherwise."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "evalkit"
TOP_LEVEL = {"__init__", "__main__", "cli", "config", "errors", "types"}
# Lowest first. A package may import only packages before it (and itself); the command-line modules
# (cli.py at the top and each package's cli.py) sit above everything.
LAYERS = ["types", "errors", "progress", "config", "scoring", "store", "backends", "models", "sandbox", "data", "kinds", "tasks",
          "train", "answers", "ratings", "judge", "vote", "serve", "report", "run", "api", "view"]
# (importing module, imported module): function-local on purpose, for start-up time.
LOCAL_IMPORTS_FOR_START_UP = {
    # torch/transformers/vllm/openai load only when a model of that backend runs
    ("evalkit.backends", "evalkit.backends.hf"), ("evalkit.backends", "evalkit.backends.openai_api"),
    ("evalkit.backends", "evalkit.backends.vllm"),
    ("evalkit.train.pipeline", "evalkit.train.progress"),  # transformers' TrainerCallback
    ("evalkit.train.sft", "evalkit.train.prompt_weight"),  # TRL's trainer classes, subclassed at module level
    ("evalkit", "evalkit.api"),  # `import evalkit` stays cheap; evalkit.evaluate loads pandas and the pipeline
}


@functools.cache
def modules() -> dict[str, ast.Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def imports(tree: ast.Module, local: bool) -> set[str]:
    """evalkit modules imported at module level (local=False) or inside functions (local=True)."""
    found: set[str] = set()

    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("evalkit"):
                if inside == local:  # `from evalkit.kinds import metric_rows` imports the submodule
                    found.update(f"{child.module}.{a.name}" if is_module(f"{child.module}.{a.name}") else child.module
                                 for a in child.names)
            elif isinstance(child, ast.Import) and inside == local:
                found.update(a.name for a in child.names if a.name.startswith("evalkit"))
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "types"  # the package itself, imported for evalkit.__version__
    if parts[-1] == "cli" or parts[1] in ("__main__", "cli"):
        return "cli"
    return parts[1]


def test_nothing_at_the_top_of_the_package_but_the_entry_config_errors_and_types():
    assert {p.stem for p in PACKAGE.glob("*.py")} <= TOP_LEVEL


def test_packages_import_only_packages_below_them():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for module, tree in modules().items():
        here = layer(module)
        if here == "cli" or module == "evalkit":  # the package's lazy evalkit.evaluate is an entry, like the CLI
            continue
        for target in imports(tree, local=False) | imports(tree, local=True):
            there = layer(target)
            if there == "cli" or rank[there] > rank[here]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that point up the layers: " + ", ".join(sorted(upward))


def test_no_import_circle_between_modules():
    graph = {m: {t for t in imports(tree, local=False) if t in modules()} for m, tree in modules().items()}
    state: dict[str, int] = {}

    def walk(node, path):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for module in graph:
        if module not in state:
            walk(module, [module])


def test_own_modules_are_imported_at_module_level_except_for_start_up_time():
    local = {(m, t) for m, tree in modules().items() if layer(m) != "cli" for t in imports(tree, local=True)
             if not (m.startswith("evalkit.") and layer(m) == "cli")}
    assert local == LOCAL_IMPORTS_FOR_START_UP


def test_the_config_accepts_exactly_the_registered_local_backends():
    from evalkit import config
    from evalkit.backends import BACKENDS

    assert set(config.BACKENDS) == set(BACKENDS) - {"endpoint"}


def test_the_config_reads_the_registered_judge_methods_and_position_rules():
    from evalkit import config
    from evalkit.judge.calibration import DEFAULT_RULE, RULES
    from evalkit.judge.methods import METHODS

    assert set(config.JUDGE_METHODS) == set(METHODS) and set(config.JUDGE_POSITION_RULES) == set(RULES)
    assert config.JUDGE_POSITION_RULES[0] == DEFAULT_RULE
    assert set(config.JUDGE_METHODS_WITHOUT_PROBABILITIES) == {n for n, m in METHODS.items() if not m.gives_probabilities}
    assert set(config.JUDGE_RULES_NEEDING_PROBABILITIES) == {n for n, r in RULES.items() if r.needs_probabilities}


def _assigns(tree: ast.Module, name: str) -> bool:
    return any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets)
               for node in tree.body)


def test_each_training_stage_module_is_imported_by_the_package_that_fills_the_registry():
    from evalkit.train.stages import STAGES

    declaring = {m for m, tree in modules().items() if m.startswith("evalkit.train.") and _assigns(tree, "STAGE")}
    assert declaring, "no module declares a training stage"
    assert declaring <= imports(modules()["evalkit.train"], local=False)
    registered = {m for m in declaring if __import__(m, fromlist=["STAGE"]).STAGE.name in STAGES}
    assert registered == declaring
