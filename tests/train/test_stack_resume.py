"""A stack build killed mid-training resumes from its checkpoint with the parent's adapter still frozen, and
ends with the same top adapter as a build that was never interrupted."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_resume import wait_for_checkpoint
from test_stack import prepared, project

REPO = Path(__file__).resolve().parents[2]


def stack_command(tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "evalkit", "--config", str(tmp_path / "evalkit.toml"), "train", "stack",
            "--recipe", str(tmp_path / "stack.toml"), "--parent", "sft", "--quiet"]


def top_adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(Path(folder) / "adapters" / "stack" / "adapter_model.safetensors")


@pytest.mark.slow
def test_a_killed_stack_build_resumes_to_the_uninterrupted_result(tiny_model_dir, tmp_path, monkeypatch):
    import torch

    from evalkit.train.build import trained_info

    runs = {}
    for name in ("straight", "killed"):
        folder = tmp_path / name
        folder.mkdir()
        monkeypatch.setenv("EVALKIT_CACHE", str(folder / "cache"))
        config = project(folder, tiny_model_dir)
        text = (folder / "stack.toml").read_text().replace("max_steps = 2\nsave_steps = 2", "max_steps = 6\nsave_steps = 2")
        (folder / "stack.toml").write_text(text.replace("batch_size = 4", "batch_size = 2"))
        prepared(config, "sft")  # the parent first, so the only build in progress below is the stack's
        env = {**os.environ, "EVALKIT_CACHE": str(folder / "cache"), "PYTHONPATH": str(REPO)}
        if name == "killed":
            process = subprocess.Popen(stack_command(folder), env=env, cwd=folder, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
            wait_for_checkpoint(folder / "cache", process)
            process.send_signal(signal.SIGKILL)
            process.wait()
        stacked, store = prepared(config, "dpo")[::2]
        runs[name] = (stacked, trained_info(store, Path(stacked.folder).name))
    (straight, plain), (resumed, info) = runs["straight"], runs["killed"]
    assert info["training"]["resumed_from"] and info["training"]["steps"] == plain["training"]["steps"] == 6
    sft_adapter = Path(info["parent"]["folder"]) / "adapter" / "adapter_model.safetensors"
    kept = Path(resumed.folder) / "adapters" / "sft" / "adapter_model.safetensors"
    assert kept.read_bytes() == sft_adapter.read_bytes()  # still frozen after the resume
    a, b = top_adapter(straight.folder), top_adapter(resumed.folder)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # seeded init, restored state: exact
