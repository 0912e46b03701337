"""A build killed with SIGKILL mid-training resumes from its last checkpoint when run again."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from train_helpers import SFT_ROWS, write_jsonl

REPO = Path(__file__).resolve().parents[2]
STEPS = 12


def command(tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "evalkit", "--config", str(tmp_path / "evalkit.toml"), "train", "sft",
            "--recipe", str(tmp_path / "sft.toml"), "--quiet"]


def setup(tmp_path: Path, tiny_model_dir: Path) -> dict:
    write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS)
    (tmp_path / "sft.toml").write_text(f"""
stage = "sft"
[data]
sources = [{{ kind = "file", path = "sft.jsonl" }}]
heldout = 8
[model]
method = "qlora"
[lora]
r = 4
alpha = 8
[train]
max_steps = {STEPS}
save_steps = 2
batch_size = 2
max_length = 64
""")
    (tmp_path / "evalkit.toml").write_text(f'[project]\nstore = "store.db"\n[models.base]\nsource = "{tiny_model_dir}"\n')
    return {**os.environ, "EVALKIT_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}


def wait_for_checkpoint(root: Path, process: subprocess.Popen, timeout: float = 240) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(root.glob("trained/*.work/checkpoints/checkpoint-*/trainer_state.json"))
        if found:
            return found[0].parent
        assert process.poll() is None, "training ended before any checkpoint: " + process.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint under {root} after {timeout} s")


def test_killed_training_resumes_from_its_last_checkpoint(tiny_model_dir, tmp_path):
    env = setup(tmp_path, tiny_model_dir)
    process = subprocess.Popen(command(tmp_path), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        checkpoint = wait_for_checkpoint(tmp_path / "cache", process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not list((tmp_path / "cache" / "trained").glob("*/evalkit_training.json"))  # nothing half-saved

    finished = subprocess.run(command(tmp_path), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    (provenance,) = (tmp_path / "cache" / "trained").glob("*/evalkit_training.json")
    info = json.loads(provenance.read_text())
    resumed = info["training"]["resumed_from"]
    assert resumed and resumed.startswith("checkpoint-") and int(resumed.split("-")[1]) >= int(checkpoint.name.split("-")[1])
    assert info["training"]["steps"] == STEPS
    logged = [h["step"] for h in info["training"]["log_history"] if "loss" in h]
    assert logged[-1] == STEPS and len(logged) == STEPS  # the restored history plus the steps after the resume
