"""`evalkit view` on the command line and over HTTP: bad input is one line in the terminal and a clear
page in the browser, never a traceback."""

from __future__ import annotations

import re
import socket
import sqlite3
import urllib.error
import urllib.request

import pytest

from evalkit.cli import main
from evalkit.store import Store
from evalkit.view import app as view_app
from evalkit.view.app import build_app
from evalkit.view.bundle import write_bundle
from evalkit.view.server import Server
from view_project import build


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewcli")
    config, _ = build(root)
    return root, config


@pytest.fixture(scope="module")
def served(project):
    root, _ = project
    with Server(build_app(Store(root / "store.db"), root / "store.db"), port=0) as server:
        yield server


def get(server: Server, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) <= 3  # one line, wrapped at most by the terminal
    return " ".join(err.split())


def test_a_missing_store_is_one_line_naming_it(tmp_path, capsys):
    config = tmp_path / "evalkit.toml"
    config.write_text('[project]\nstore = "nowhere/store.db"\n')
    assert main(["--config", str(config), "view"]) == 2
    line = one_error_line(capsys)
    assert "no store at" in line and "nowhere/store.db" in line and "evalkit run" in line
    assert not (tmp_path / "nowhere").exists()  # viewing never creates a store


def test_a_store_from_a_newer_evalkit_is_refused_with_the_reason(tmp_path, capsys):
    config, _ = build(tmp_path)
    db = sqlite3.connect(tmp_path / "store.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    assert main(["--config", str(config), "view", "--port", "0"]) == 2
    assert "schema version 99" in one_error_line(capsys)


def test_a_port_in_use_is_one_line_naming_it(project, capsys):
    _, config = project
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--config", str(config), "view", "--port", str(port)]) == 2
    line = one_error_line(capsys)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line


def test_add_annotator_prints_a_link_with_a_token(project, capsys):
    _, config = project
    assert main(["--config", str(config), "view", "--add-annotator", "carol", "--port", "9001"]) == 0
    link = re.search(r"http://localhost:9001/vote\?token=(\S+)", capsys.readouterr().out)
    assert link and len(link.group(1)) >= 20


def test_pages_are_served_and_an_unknown_run_or_model_is_a_clear_page(served):
    status, page = get(served, "")
    assert status == 200 and "run 1" in page
    for path, message in (("samples?run=7&task=toygsm&model=base", "no run 7 in the store; runs there: 1"),
                          ("diff?run=1&task=toygsm&a=sft&b=llama", "run 1 has no model &#39;llama&#39;"),
                          ("nothing", "no page &#39;nothing&#39;"),
                          ("plot?run=1&name=../../etc/passwd", "run 1 has no plot")):
        status, page = get(served, path)
        assert status == 404 and message in page and "Traceback" not in page, path


def test_a_failure_inside_a_page_is_one_line_in_the_page_not_a_traceback(served, monkeypatch):
    def broken(site, query):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(view_app.PAGES, "judge", broken)
    status, page = get(served, "judge")
    assert status == 500 and "ZeroDivisionError: division by zero" in page and "Traceback" not in page


def test_the_voting_page_is_not_there_without_votes(served):
    status, page = get(served, "vote?token=x")
    assert status == 404


def test_the_bundle_is_the_pages_as_files_with_every_link_resolving(project, tmp_path):
    root, _ = project
    written = write_bundle(Store(root / "store.db"), tmp_path / "bundle")
    files = {p.relative_to(tmp_path / "bundle").as_posix() for p in (tmp_path / "bundle").rglob("*") if p.is_file()}
    assert "index.html" in files and "static/view.css" in files and any(f.startswith("plots/") for f in files)
    assert written.pages == sum(f.endswith(".html") for f in files)
    for name in (f for f in files if f.endswith(".html")):
        page = (tmp_path / "bundle" / name).read_text()
        for target in re.findall(r'(?:href|src)="([^"#]+)"', page):
            assert target.replace("&amp;", "&") in files, f"{name} links to {target}"
    assert written.bytes < 1_000_000


def test_each_refused_request_is_one_line_in_the_servers_terminal(served, capfd):
    get(served, "samples?run=7&task=toygsm&model=base")
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("evalkit view:")]
    assert lines == ["evalkit view: 404 GET /samples?run=7&task=toygsm&model=base: no run 7 in the store; runs "
                     "there: 1 (`evalkit runs` lists them)"]
