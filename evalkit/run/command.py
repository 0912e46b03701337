"""What `evalkit run` does, for the command line and the Python API alike: the same config, flags,
store, cache and provenance, whichever way it is asked."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

from evalkit.config import Config
from evalkit.kinds import formats
from evalkit.models.entries import select_models
from evalkit.models.local_pool import local_workers
from evalkit.models.parallel import world
from evalkit.models.ray_pool import ray_workers
from evalkit.progress.console import ConsoleUI
from evalkit.project import open_project
from evalkit.report import slices
from evalkit.run import overrides
from evalkit.run.pipeline import run
from evalkit.store import Store


@dataclass(frozen=True)
class RunRequest:
    config: str | Path | None = None  # None: ./evalkit.toml if there is one, else the built-in default
    models: str | None = None  # comma-separated names or sources; None: every configured model
    suite: str | None = None
    tasks: str | None = None  # comma-separated task names or files; replaces the suite's tasks
    limit: int | None = None
    num_fewshot: int | None = None
    seed: int | None = None
    batch_size: int | None = None
    dtype: str | None = None
    device: str | None = None
    slice_by: str | None = None  # comma-separated slice fields (evalkit/report/slices.py)
    ray: str | None = None  # a Ray cluster's address: its workers compute, this process writes (wins over parallel.ray)
    formats: str | None = None  # comma-separated prompt formats (evalkit/kinds/formats.py)
    workers: str | None = None  # processes on this machine for a CPU model (a count or auto; wins over parallel.workers)
    quiet: bool = False


def run_request(request: RunRequest) -> tuple[Config, Store, int | None, ConsoleUI]:
    """Evaluate as asked; the run id is None on a non-main rank of a data-parallel launch."""
    config, store = open_project(request.config)
    config, suite, notes = overrides.apply(config, request.suite or "default", request.tasks, request.limit,
                                           request.num_fewshot, request.seed, suite_given=request.suite is not None)
    config, names = select_models(config, request.models, {"batch_size": request.batch_size,
                                                           "dtype": request.dtype, "device": request.device})
    ui = ConsoleUI(quiet=request.quiet or not world().is_main)  # one progress display per launch, not per rank
    if config.builtin:
        ui.note(f"no evalkit.toml here: the built-in default config ({config.path}); `evalkit init` writes one")
    for note in notes:
        ui.note(note)
    given = {k: v for k, v in asdict(request).items() if v is not None and k not in ("config", "quiet", "suite")}
    slice_by = slices.parse_fields(request.slice_by)
    asked = _formats(config, suite, request.formats, ui)
    address = request.ray or config.parallel.ray
    spread_here = not address and world().size == 1  # a cluster or a launcher spreads the work otherwise
    processes = local_workers(request.workers or config.parallel.workers) if spread_here else nullcontext()
    with ray_workers(config.parallel, address, ui), processes:
        run_id = run(config, names, suite, store, ui, command_line=given, slice_by=slice_by, asked_formats=asked)
    return config, store, run_id, ui


def _formats(config: Config, suite: str, flag: str | None, ui) -> list[formats.Format]:
    """The prompt formats of this run: --formats, else the suite's `formats` key (opt-in per suite)."""
    declared = config.suite(suite).formats
    if flag is None:
        return formats.parse_list(",".join(declared), f"{config.path}: suites.{suite}.formats") if declared else []
    if declared and formats.parse_list(flag) != formats.parse_list(",".join(declared)):
        ui.note(f"--formats {flag} wins over the suite's formats = {list(declared)}")
    return formats.parse_list(flag)
