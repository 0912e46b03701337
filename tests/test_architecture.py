"""The folder tree is the architecture: packages depend only downwards, with no import circle, and
evalkit's own modules are imported at module level except where start-up time needs otherwise."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "evalkit"
TOP_LEVEL = {"__init__", "__main__", "cli", "config", "errors", "types"}
# Lowest first. A package may import only packages before it (and itself); the command-line modules
# (cli.py at the top and each package's cli.py) sit above everything.
LAYERS = ["types", "errors", "system", "progress", "config", "scoring", "store", "backends", "models", "sandbox", "data", "kinds", "tasks",
          "train", "answers", "ratings", "judge", "vote", "serve", "project", "report", "run", "api", "view"]
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


def _registers(tree: ast.Module) -> bool:
    """A module-level call of another module's register function: `STAGE = register(...)` (a module that
    registers into its own registry, as judge/calibration.py does, loads with whatever reads it)."""
    own = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    calls = [node.value for node in tree.body if isinstance(node, (ast.Expr, ast.Assign))]
    return any(isinstance(c, ast.Call) and getattr(c.func, "id", "").startswith("register") and c.func.id not in own
               for c in calls)


def _loaded_with(package: str) -> set[str]:
    """The modules importing `package` loads: its module-level imports, followed."""
    seen, todo = set(), [package]
    while todo:
        module = todo.pop()
        if module not in seen and module in modules():
            seen.add(module)
            todo += imports(modules()[module], local=False)
    return seen


def test_every_module_that_fills_a_registry_is_loaded_with_its_package():
    """A registration nothing imports never happens: importing the package must run each one."""
    registering = {m for m, tree in modules().items() if _registers(tree)}
    assert {"evalkit.train.sft", "evalkit.train.merge"} <= registering
    unseen = sorted(m for m in registering if m not in _loaded_with(".".join(m.split(".")[:2])))
    assert not unseen, "registering modules their package does not load: " + ", ".join(unseen)


def test_each_declared_task_kind_is_in_the_registry():
    from evalkit.kinds import KINDS

    declared = {node.name for m, tree in modules().items() if m.startswith("evalkit.kinds.") for node in tree.body
                if isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == "TaskKind" for b in node.bases)}
    assert declared == {type(kind).__name__ for kind in KINDS.values()}


DOC = PACKAGE.parent / "docs" / "architecture.md"


def _doc_part(start: str, end: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(start):text.index(end, text.index(start))]


def test_the_architecture_doc_lists_exactly_the_registered_kinds_in_its_diagram_and_its_table():
    from evalkit.kinds import KINDS

    diagram = re.search(r"kinds/ ─+ TaskKind: ([^(]+) \(KINDS\)", DOC.read_text(encoding="utf-8")).group(1)
    table = re.findall(r"^\| `(\w+)` \|", _doc_part("**`kinds/`**", "**`data/`**"), re.MULTILINE)
    assert sorted(diagram.split(", ")) == sorted(table) == sorted(KINDS)


def test_the_architecture_doc_draws_every_package():
    drawn = set(re.findall(r"(\w+)/", _doc_part("```\n", "\n```")))  # the diagram
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages <= drawn, f"packages missing from docs/architecture.md's diagram: {sorted(packages - drawn)}"


def test_most_imports_between_packages_name_a_module_inside_the_package_as_the_doc_says():
    between = [(m, t) for m, tree in modules().items() for t in imports(tree, False) | imports(tree, True)
               if len(t.split(".")) > 1 and len(m.split(".")) > 1 and t.split(".")[1] != m.split(".")[1]
               and t.split(".")[1] not in TOP_LEVEL]
    inside = [t for _, t in between if len(t.split(".")) > 2]
    assert len(inside) > len(between) / 2, f"{len(inside)} of {len(between)}: docs/architecture.md says most"
