"""Plain-words notes on what each number measures: generated from the measures a page shows."""

from evalkit.report import leaderboard as report
from evalkit.report import lineage, notes
from tests.report.test_leaderboard import build_store


def test_the_page_says_what_its_metrics_measure(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])
    store, run_id = build_store(tmp_path / "store.db")
    text = report.render(store, run_id, tmp_path)
    section = text.split("## What the numbers measure")[1].split("\n## ")[0]
    assert "- **word_perplexity**: e to the negative log-likelihood of the documents per word" in section
    assert "- **bits_per_byte**:" in section and "**acc**" not in section  # only what the page shows


def test_near_namesakes_each_get_a_note_that_says_how_they_differ():
    lines = "\n".join(notes.measures_section(["acc", "acc_norm", "acc/history", "word_perplexity"],
                                             ["assistant_perplexity", "likelihood_accuracy", "reward_accuracy"]))
    assert lines.count("**acc**") == 1  # acc/<subject> shares acc's note
    assert "acc and acc_norm differ on items whose options differ in length" in lines
    assert "A choice task over the same pairs reads them as plain text after its own prompt, so its acc can differ" \
        in lines
    assert "it measures the change from the parent, not which reply the model prefers" in lines.lower()
    assert "falls much further than a task's perplexity on other plain text" in lines
    assert notes.measures_section(["f1_custom"]) == []


def test_the_lineage_names_the_held_out_measurements_it_shows():
    sft = {"heldout": {"before": {"assistant_perplexity": 440.0, "n": 64, "tokens": 245},
                       "after": {"assistant_perplexity": 3.2, "n": 64, "tokens": 245}}}
    rate = {"value": 0.6, "ci_low": 0.5, "ci_high": 0.7, "n": 64}
    dpo = {"heldout": {"before": {"likelihood_accuracy": rate},
                       "after": {"likelihood_accuracy": rate, "reward_accuracy": rate}}}
    assert lineage.heldout_measures(sft) == ["assistant_perplexity"]
    assert lineage.heldout_measures(dpo) == ["likelihood_accuracy", "reward_accuracy"]
    assert lineage.heldout_measures({}) == []
