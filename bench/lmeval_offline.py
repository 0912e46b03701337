"""lm-eval's own command line, with evaluate's hub metric `code_eval` answered locally.

lm-eval's mbpp task calls evaluate.load("code_eval") when its utils module is imported; that
metric script lives on the hub, which this machine cannot reach. Everything else is lm-eval's
own code: here only code_eval's check is replaced, by the same check (candidate + "\\n" + test
run as one program, passed when it exits cleanly within the 3 s code_eval allows).

    python bench/lmeval_offline.py run --model hf ...      (the arguments of `lm_eval`)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import evaluate

TIMEOUT_S = 3.0  # code_eval's default


def _passes(program: str) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "program.py")
        with open(path, "w") as out:
            out.write(program)
        try:
            return subprocess.run([sys.executable, path], cwd=folder, capture_output=True,
                                  timeout=TIMEOUT_S, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False


class LocalCodeEval:
    def compute(self, references, predictions, k=(1,), **_):
        results = [[_passes(candidate + "\n" + test) for candidate in candidates]
                   for candidates, test in zip(predictions, references)]
        per_k = {f"pass@{n}": sum(sum(r[:n]) > 0 for r in results) / len(results) for n in k}
        return per_k, results


_hub_load = evaluate.load


def _load(path, *args, **kwargs):
    return LocalCodeEval() if path == "code_eval" else _hub_load(path, *args, **kwargs)


evaluate.load = _load

if __name__ == "__main__":
    from lm_eval.__main__ import cli_evaluate

    sys.argv[0] = "lm_eval"
    sys.exit(cli_evaluate())
