"""Training the candidates: QLoRA/LoRA SFT, DPO, ORPO and reward models over TRL + PEFT + bitsandbytes.

A recipe (recipes/*.toml) says what to train; `evalkit train STAGE --recipe FILE` runs one, and a
model in evalkit.toml with `recipe` and `parent` is built on demand by `evalkit run`
(evalkit/train/build.py). Heavy libraries are imported inside functions, so importing this
package costs nothing beyond evalkit's own modules.
"""

from evalkit.train.candidates import prepare_model

__all__ = ["prepare_model"]
