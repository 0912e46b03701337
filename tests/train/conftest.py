"""Fixtures for training tests: a tiny model, small data files, an isolated model cache."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from train_helpers import PREFERENCE_ROWS, SFT_ROWS, write_jsonl  # noqa: E402


@pytest.fixture()
def data_files(tmp_path) -> Path:
    write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS)
    write_jsonl(tmp_path / "pref.jsonl", PREFERENCE_ROWS)
    return tmp_path


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("EVALKIT_CACHE", str(folder))
    return folder
