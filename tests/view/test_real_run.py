"""The view over a run the pipeline wrote (the tiny model on a perplexity task): its pages render and
the diff's interval is the one `Results.compare` gives."""

from __future__ import annotations

import re

import evalkit
from evalkit.report.format import fmt
from evalkit.view import items
from evalkit.view.bundle import write_bundle
from evalkit.view.site import Site
from project import write_project


def test_a_pipeline_run_is_viewed_with_the_apis_numbers(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    results = evalkit.evaluate(models=["tiny", "tiny16"], tasks=["toyppl"], limit=6, config=config)
    site = Site(results.store)
    run = str(results.run_id)
    samples = items.samples_page(site, {"run": run, "task": "toyppl", "model": "tiny"})
    assert len(re.findall(r'class="id">', samples)) == 6
    diff = items.diff_page(site, {"run": run, "task": "toyppl", "a": "tiny16", "b": "tiny"})
    row = results.compare("tiny16", "tiny").iloc[0]
    shown = re.search(r'id="interval">([^<]*)<', diff).group(1)
    assert shown == f"{fmt(row['diff'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
    written = write_bundle(results.store, tmp_path / "bundle")
    assert (tmp_path / "bundle" / "index.html").is_file() and written.pages >= 5
