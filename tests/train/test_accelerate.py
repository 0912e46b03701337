"""Multi-process training: two CPU processes under `accelerate launch` (gloo backend), as users scale out.

`--multi_gpu` is accelerate's torchrun launcher; on a machine without GPUs it starts CPU processes that
join a gloo process group (`--cpu` alone would start a single process and expect MPI to fan out).
"""

import json
import subprocess
import sys

import pytest
from test_resume import setup


@pytest.mark.slow
def test_two_cpu_processes_under_accelerate_launch(tiny_model_dir, tmp_path):
    env = setup(tmp_path, tiny_model_dir)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
              "-m", "evalkit", "--config", str(tmp_path / "evalkit.toml"), "train", "sft",
              "--recipe", str(tmp_path / "sft.toml"), "--set", "model.method=lora", "--set", "train.max_steps=4",
              "--quiet"]
    result = subprocess.run(launch, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    (provenance,) = (tmp_path / "cache" / "trained").glob("*/evalkit_training.json")
    info = json.loads(provenance.read_text())
    assert info["training"]["steps"] == 4 and info["environment"]["world_size"] == 2
    # each optimizer step saw batch_size x 2 processes examples: 4 steps x 2 x 2 = 16 examples = 0.4 epochs of 40 rows
    assert abs(info["training"]["log_history"][-1]["epoch"] - 0.4) < 1e-6
