"""Training the candidates: QLoRA/LoRA SFT, DPO, ORPO and reward models over TRL + PEFT + bitsandbytes.

A recipe (recipes/*.toml) says what to train; `evalkit train STAGE --recipe FILE` runs one, and a
model in evalkit.toml with `recipe` and `parent` is built on demand by `evalkit run`
(evalkit/train/build.py). Heavy libraries are imported inside functions, so importing this
package costs nothing beyond evalkit's own modules.
"""

# The training stages: each module registers its stage (evalkit/train/stages.py) when imported here.
from evalkit.train import distill, dpo, merge, orpo, pretrain, reward, sft, stack  # noqa: F401
from evalkit.train.candidates import prepare_model

__all__ = ["prepare_model"]
