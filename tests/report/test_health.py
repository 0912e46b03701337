"""Health checks: a constant predictor and an empty-output model are flagged at the top of the report."""

from evalkit.report import health
from evalkit.report import leaderboard as report
from evalkit.store.db import Store

N = 20
GOLDS = [i % 4 for i in range(N)]  # A, B, C, D equally often: majority-class baseline 0.25


def choice_records(picks):
    return [{"sample_id": f"q{i}", "prompt": "Q?", "response": "ABCD"[p], "target": "ABCD"[g],
             "scores": {"acc": float(p == g), "loglikelihoods": [-1.0 - (k != p) for k in range(4)],
                        "chosen": p, "gold": [g]}} for i, (p, g) in enumerate(zip(picks, GOLDS))]


def generation_records(empty_items):
    records = []
    for i in range(N):
        text = "" if i in empty_items else f"The answer is {i}."
        records.append({"sample_id": f"g{i}", "prompt": "Solve", "response": text, "target": str(i),
                        "scores": {"finish_reason": "length" if i == 0 else "stop", "tokens": 5,
                                   "exact_match": float(bool(text)), "exact_match_valid": bool(text)}})
    return records


def mean_row(metric, values):
    return {"metric": metric, "value": sum(values) / len(values), "n": len(values), "ci_low": 0.0, "ci_high": 1.0,
            "info": {"primary": True}}


def task(kind):
    return {"version": 1, "kind": kind, "options": {}, "n_samples": N, "data_hash": "h", "data_origin": "x.jsonl"}


def build(path):
    store = Store(path)
    models = {m: {"fingerprint": m, "folder": f"/m/{m}",
                  "spec": {"source": None, "recipe": "r.toml", "parent": "base" if m == "sft" else None,
                           "dtype": "float32", "quantization": "none"}} for m in ("base", "sft")}
    provenance = {"seed": 0, "suite": "default", "models": models,
                  "tasks": {"toymc": task("choice"), "toygen": task("generate")}}
    run_id = store.start_run({"models": ["base", "sft"]}, provenance)
    picks = {"base": [0] * N, "sft": [(g + (i % 3 == 0)) % 4 for i, g in enumerate(GOLDS)]}
    empties = {"base": set(), "sft": set(range(8, 20))}
    for model in ("base", "sft"):
        mc, gen = choice_records(picks[model]), generation_records(empties[model])
        store.put_samples(run_id, model, "toymc", mc)
        store.put_samples(run_id, model, "toygen", gen)
        store.put_results(run_id, model, "toymc", [mean_row("acc", [r["scores"]["acc"] for r in mc])])
        store.put_results(run_id, model, "toygen", [mean_row("exact_match", [r["scores"]["exact_match"] for r in gen])])
    store.finish_run(run_id, provenance)
    return store, run_id


def test_constant_predictor_and_empty_outputs_are_flagged_at_the_top(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])
    store, run_id = build(tmp_path / "s.db")
    text = report.render(store, run_id, tmp_path)
    top = text.split("## Results")[0]
    assert "Health flags (4)" in top
    assert "- base · toymc: picks option A on 20 of 20 items (100%); majority-class baseline 0.25" in top
    assert "- sft · toygen: 12/20 outputs are empty" in top
    assert "- sft · toygen: empty outputs 12/20 against base 0/20, mcnemar exact p = 0.00049" in top
    assert "- sft · toygen: unscored outputs 12/20 against base 0/20, mcnemar exact p = 0.00049" in top
    # sft's picks are spread: no flag for it on toymc; base's generations are fine
    assert "sft · toymc" not in top and "base · toygen" not in top
    assert "| base | toymc | 20 | A 100% | 0.2500 | 0.2500 | ⚠ |" in text
    assert "| sft | toygen | 20 | 12/20 (base 0/20, mcnemar exact p = 0.00049) | 1/20 (base 1/20" in text
    verdict = text.split("## Verdict")[1].split("## Results")[0]  # flagged results are not read as evidence
    assert "  - toymc · acc: base health-flagged (picks option A on 20 of 20 items" in verdict
    assert "  - toygen · exact_match: sft health-flagged (12/20 outputs are empty)" in verdict


def test_healthy_models_get_no_flag(tmp_path):
    spread = health.check("m", "t", "choice", choice_records(GOLDS))
    assert spread.flags == [] and spread.accuracy == 1.0 and spread.majority_baseline == 0.25
    assert sorted(spread.picks.values()) == [5, 5, 5, 5]
    assert health.check("m", "t", "perplexity", [{"scores": {}}]) is None
    assert health.flags_lines([spread])[0].startswith("**Health checks:** no flags")


def test_nine_of_ten_on_one_option_is_flagged_and_older_records_use_the_argmax():
    records = choice_records([1] * 9 + [2] + [0] * 10)[:10]
    for record in records:
        del record["scores"]["chosen"], record["scores"]["gold"]  # a store from before these were kept
    found = health.check("m", "t", "choice", records)
    assert found.picks[1] == 9 and found.majority_baseline is None
    assert found.flags == ["picks option B on 9 of 10 items (90%): its accuracy measures the answer key, not the model"]


def test_code_shares_count_each_completion():
    record = {"sample_id": "p", "response": '["", "return 1", ""]',
              "scores": {"n": 3, "unscored": 1, "outcomes": [{}, {}, {}], "finish_reasons": ["stop", "length", "stop"]}}
    shares = health.output_shares(record)
    assert shares == {"empty": 2 / 3, "truncated": 1 / 3, "unscored": 1 / 3}


def test_the_run_summary_prints_the_flags(tmp_path):
    import io

    from rich.console import Console

    from evalkit.report.summary import print_summary

    store, run_id = build(tmp_path / "s.db")
    out = io.StringIO()
    print_summary(store, run_id, Console(file=out, width=300))
    assert "⚠ base · toymc: picks option A on 20 of 20 items" in out.getvalue()


def test_a_task_whose_gold_never_moves_is_flagged_for_every_model():
    """A constant predictor scores 100% where the right answer always sits in one position, and the picks by option
    cannot tell a position bias from accuracy (factual_pairs before its options were shuffled)."""
    records = choice_records(GOLDS)
    for record in records:
        record["scores"]["gold"] = [0]
    found = health.check("m", "t", "choice", records)
    assert found.majority_baseline == 1.0
    assert found.flags == ["the right answer is option A on all 20 items: always answering A would score 100%, and "
                           "a pull toward one position cannot be told from accuracy (shuffle the options: "
                           "[choice].shuffle_choices)"]
    other = health.check("n", "t", "choice", records)
    lines = health.flags_lines([found, other])
    assert lines[0].startswith("**⚠ Health flags (1)**")
    assert "- every model (m, n) · t: the right answer is option A on all 20 items" in lines[2]


def test_a_few_items_with_one_gold_position_are_not_flagged():
    records = choice_records(GOLDS)[:health.MIN_GOLD_ITEMS - 1]
    for record in records:
        record["scores"]["gold"] = [0]
    assert health.check("m", "t", "choice", records).flags == []


def test_accuracy_is_that_of_the_counted_picks_when_the_headline_normalises():
    """A cloze task led by a length-normalised accuracy picks per character; its health row's accuracy
    counts those picks (the headline's), not the plain-argmax acc beside them."""
    records = choice_records(GOLDS[:10] + [(g + 1) % 4 for g in GOLDS[10:]])  # headline picks: 10 of 20 right
    for record in records:
        record["scores"]["acc"] = 0.0  # the plain argmax, here wrong everywhere
    found = health.check("m", "t", "choice", records)
    assert found.accuracy == 0.5
