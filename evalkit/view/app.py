"""`evalkit view`'s web app: the pages of site.py, items.py and verdicts.py behind FastAPI, and the
voting page when it is on. A bad URL gets a page saying what is missing and what there is; an
unexpected failure gets one line in the page and its traceback in the server's log, never in the page.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from evalkit.errors import EvalkitError
from evalkit.store import Store
from evalkit.view import answers, items, verdicts
from evalkit.view.site import STATIC, NotFound, Site
from evalkit.view.voting import Forbidden, WebVoting

log = logging.getLogger("evalkit.view")
PAGES: dict[str, Callable[[Site, dict[str, str]], str]] = {
    "run": lambda site, query: site.run_page(query.get("run")),
    "samples": items.samples_page,
    "diff": items.diff_page,
    "judge": verdicts.judge_page,
    "verdict": verdicts.verdict_page,
    "answers": answers.answers_page,
}


LOCAL_CLIENTS = ("127.0.0.1", "::1", "localhost")
ANNOTATOR_PATHS = ("/vote", "/static/", "/favicon.ico")  # what an annotator on another machine may open


def served_to(path: str, client: str | None, voting: bool) -> bool:
    """Whether a request may have this page. With voting on, the pages that name the models (runs,
    items, diffs, verdicts) are for this machine only: an annotator who could open them would learn
    which model wrote which answer, and the pairs would no longer be blind."""
    if not voting or client in LOCAL_CLIENTS:
        return True
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in ANNOTATOR_PATHS)


def make_app(site: Site, voting: WebVoting | None = None) -> FastAPI:
    app = FastAPI(title="evalkit view", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()  # one SQLite connection: pages are built one at a time

    @app.middleware("http")
    async def annotators_vote_only(request: Request, call_next):
        client = request.client.host if request.client else None
        if served_to(request.url.path, client, voting is not None):
            return await call_next(request)
        return error_page(site, "with voting on, the results pages are served to the machine that runs the view "
                                "only, so that votes stay blind; your voting link opens the voting page", 403, request)

    def page(request: Request, build: Callable[[], str]) -> Response:
        try:
            with lock:
                return HTMLResponse(build())
        except NotFound as err:
            return error_page(site, str(err), 404, request)
        except Forbidden as err:
            return error_page(site, str(err), 403, request)
        except EvalkitError as err:
            return error_page(site, str(err), 400, request)
        except Exception as err:  # the boundary: the page says what failed, the log keeps the traceback
            log.exception("evalkit view: %s failed", request.url.path)
            return error_page(site, f"this page failed: {type(err).__name__}: {err}; the server's log has the "
                                    "traceback", 500, request)

    @app.get("/")
    def runs(request: Request) -> Response:
        return page(request, site.runs_page)

    @app.get("/static/{name}")
    def static(name: str, request: Request) -> Response:
        path = STATIC / name
        if "/" in name or not path.is_file():
            return error_page(site, f"no file {name!r} here", 404, request)
        return FileResponse(path)

    @app.get("/plot")
    def plot(request: Request) -> Response:
        query = dict(request.query_params)
        try:
            with lock:
                return FileResponse(site.plot_path(query.get("run"), query.get("name", "")), media_type="image/png")
        except NotFound as err:
            return error_page(site, str(err), 404, request)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    if voting is not None:
        @app.get("/vote")
        def vote_page(request: Request) -> Response:
            query = dict(request.query_params)
            return page(request, lambda: voting.page(query.get("token", ""), query.get("said", ""), query.get("undone", "")))

        @app.post("/vote")
        async def vote_cast(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))

            def submit():
                with lock:
                    return voting.submit(form)

            try:
                token, said, undone = await run_in_threadpool(submit)  # the lock is not waited for on the loop
            except Forbidden as err:
                return error_page(site, str(err), 403, request)
            except EvalkitError as err:
                return error_page(site, str(err), 400, request)
            return RedirectResponse(voting.page_url(token, said, undone), status_code=303)

    @app.get("/{name}")
    def named(name: str, request: Request) -> Response:
        if name not in PAGES:
            return error_page(site, f"no page {name!r}; the pages are the runs (/), "
                                    f"{', '.join(PAGES)}{' and vote' if voting else ''}", 404, request)
        query = dict(request.query_params)
        return page(request, lambda: PAGES[name](site, query))

    return app


def build_app(store: Store, store_path: Path, votes: bool = False, prompt_set: str | None = None,
              seed: int = 0) -> FastAPI:
    site = Site(store, votes_enabled=votes)
    voting = WebVoting(store, Path(store_path), site.render, seed=seed, prompt_set=prompt_set) if votes else None
    return make_app(site, voting)


def error_page(site: Site, message: str, status: int, request: Request) -> HTMLResponse:
    """The page, and one line in the server's terminal so its owner sees what visitors ran into."""
    where = request.url.path if request.url.path == "/vote" else str(request.url.path) + (
        f"?{request.url.query}" if request.url.query else "")  # a voting link's token is never printed
    print(f"evalkit view: {status} {request.method} {where}: {message}", file=sys.stderr, flush=True)
    return HTMLResponse(site.render("error.html", title="Not found" if status == 404 else "Error", message=message),
                        status_code=status)
