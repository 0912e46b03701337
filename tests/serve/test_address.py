"""`evalkit serve` refuses a bad or busy port in one line before any model loads."""

import socket

import pytest

from evalkit.cli import main


def test_a_port_out_of_range_or_in_use_is_one_line_before_the_model_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = []
    monkeypatch.setattr("evalkit.train.prepare_model", lambda *a, **k: loaded.append(a))
    assert main(["serve", "--model", "base", "--port", "70000"]) == 2
    assert "--port 70000 is out of range" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--model", "base", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1
    assert loaded == []


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_the_port_range_is_checked(tmp_path, capsys, monkeypatch, port):
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--model", "base", "--port", port]) == 2
    assert "out of range" in capsys.readouterr().err
