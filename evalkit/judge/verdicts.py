"""Pairwise LLM-as-judge: every pair of answers is judged in both orders.

For each prompt and each pair of models the judge sees the two answers twice,
once with each shown first ("ab": model_a first, "ba": model_b first). Both
verdicts are stored with the judge's raw text, mapped back to model_a/model_b;
a win counts only when both orders agree, anything else is a tie (the strict
rule; calibration.py holds the calibrated one). A verdict that cannot be read is
stored as unscored (NULL) and counted, never dropped. Methods that give verdict
probabilities store them beside the verdict (table judgment_probs).

    run_judge(config, ["base", "sft"], "smollm2-local", "default", store, ui)   # judge/run.py
    judged_pairs(store, prompt_set="default", judge="smollm2-local")

The work lives in run.py (jobs, caching), methods.py (generate, verdict-token
probabilities, reward model), stats.py, and the leaderboard section in report/judge.py.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import evalkit.answers.generate  # noqa: F401  (registers the answers table, which judged_pairs joins)
from evalkit.store import Store

ROW_FIELDS = ("judge", "prompt_set", "prompt_id", "model_a", "model_b", "position", "key", "template",
              "judge_fingerprint", "fingerprint_a", "fingerprint_b", "len_a", "len_b", "raw", "shown", "verdict",
              "error", "created")
PROB_ROW_ID = ("judge", "prompt_set", "prompt_id", "model_a", "model_b", "position", "key")


@dataclass(frozen=True)
class JudgedPair:
    judge: str
    prompt_set: str
    prompt_id: str
    model_a: str
    model_b: str
    verdict_ab: str | None  # "a" | "b" | "tie", model_a shown first; None: unscored or not judged yet
    verdict_ba: str | None  # the same with model_b shown first, mapped back to model_a/model_b
    final: str | None  # "a"/"b" only when both orders agree, else "tie"; None if either is unscored
    probs_ab: tuple[float, float, float] | None = None  # (P(first better), P(second), P(tie)) in order "ab"
    probs_ba: tuple[float, float, float] | None = None  # the same in order "ba" (first shown: model_b)


def final_verdict(verdict_ab: str | None, verdict_ba: str | None) -> str | None:
    if verdict_ab is None or verdict_ba is None:
        return None
    return verdict_ab if verdict_ab == verdict_ba and verdict_ab in ("a", "b") else "tie"


def shown_to_verdict(shown: str | None, position: str) -> str | None:
    """The judge's "A"/"B" (first/second shown) → "a"/"b" (model_a/model_b)."""
    if shown is None or shown == "tie":
        return shown
    first_won = shown == "A"
    return "a" if first_won == (position == "ab") else "b"


def judgment_rows(store: Store, prompt_set: str | None = None, judge: str | None = None,
                  current_only: bool = True) -> list[dict[str, Any]]:
    """Stored single-order judgments. current_only: those whose answers are still the models'
    answers in the store (a regenerated answer makes its old judgments stale until re-judged)."""
    if not _has_tables(store, "judgments", "answers", "judgment_probs"):  # a store opened before this module was imported
        return []
    query = ("SELECT " + ", ".join(f"j.{f}" for f in ROW_FIELDS) + ", p.p_first, p.p_second, p.p_tie FROM judgments j"
             " LEFT JOIN judgment_probs p ON p.judge=j.judge AND p.prompt_set=j.prompt_set AND p.prompt_id=j.prompt_id"
             " AND p.model_a=j.model_a AND p.model_b=j.model_b AND p.position=j.position AND p.key=j.key")
    if current_only:
        query += (" JOIN answers xa ON xa.model=j.model_a AND xa.prompt_set=j.prompt_set AND xa.prompt_id=j.prompt_id"
                  " AND xa.fingerprint=j.fingerprint_a"
                  " JOIN answers xb ON xb.model=j.model_b AND xb.prompt_set=j.prompt_set AND xb.prompt_id=j.prompt_id"
                  " AND xb.fingerprint=j.fingerprint_b")
    query += " WHERE 1=1"
    args: list[Any] = []
    if prompt_set is not None:
        query, args = query + " AND j.prompt_set=?", args + [prompt_set]
    if judge is not None:
        query, args = query + " AND j.judge=?", args + [judge]
    rows = store.db.execute(query + " ORDER BY j.judge, j.prompt_set, j.rowid", args)
    return [{**dict(zip(ROW_FIELDS, row)), "probs": None if row[-1] is None else tuple(row[-3:])} for row in rows]


def judged_pairs(store: Store, prompt_set: str | None = None, judge: str | None = None) -> list[JudgedPair]:
    """One entry per (judge, prompt set, prompt, pair of models) with at least one order judged."""
    orders: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for row in judgment_rows(store, prompt_set, judge):
        item = (row["judge"], row["prompt_set"], row["prompt_id"], row["model_a"], row["model_b"])
        orders[item][row["position"]] = row
    pairs = []
    for item, by_position in orders.items():
        ab, ba = by_position.get("ab", {}), by_position.get("ba", {})
        verdict_ab, verdict_ba = ab.get("verdict"), ba.get("verdict")
        pairs.append(JudgedPair(*item, verdict_ab=verdict_ab, verdict_ba=verdict_ba,
                                final=final_verdict(verdict_ab, verdict_ba),
                                probs_ab=ab.get("probs") if verdict_ab else None,
                                probs_ba=ba.get("probs") if verdict_ba else None))
    return pairs


def put_judgments(store: Store, rows: list[dict[str, Any]]) -> None:
    """rows: ROW_FIELDS, and `probs` (P(first), P(second), P(tie)) where the method gives them."""
    with store.transaction() as db:
        db.executemany(f"INSERT OR REPLACE INTO judgments VALUES ({','.join('?' * len(ROW_FIELDS))})",
                       [tuple(row[f] for f in ROW_FIELDS) for row in rows])
        db.executemany("INSERT OR REPLACE INTO judgment_probs VALUES (?,?,?,?,?,?,?,?,?,?)",
                       [(*(row[f] for f in PROB_ROW_ID), *row["probs"]) for row in rows if row.get("probs")])


def put_judge_info(store: Store, judge: str, prompt_set: str, info: dict[str, Any]) -> None:
    with store.transaction() as db:
        db.execute("INSERT OR REPLACE INTO judge_info VALUES (?,?,?,?)",
                   (judge, prompt_set, json.dumps(info, default=str), time.time()))


def _has_tables(store: Store, *names: str) -> bool:
    found = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return set(names) <= found


def judge_infos(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    if not _has_tables(store, "judge_info"):
        return {}
    rows = store.db.execute("SELECT judge, prompt_set, info FROM judge_info ORDER BY judge, prompt_set")
    return {(judge, prompt_set): json.loads(info) for judge, prompt_set, info in rows}

