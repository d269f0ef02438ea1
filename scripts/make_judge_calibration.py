"""Build golden_sets/judge_calibration.jsonl: answers of known quality, graded per criterion.

Each answer is a golden item's reference with one deliberate, named defect (or none). The grade
of each defect on each criterion was set by the maintainers from the rubrics' level
descriptions (tasks/rubrics/*.yaml), which are the written grading guideline: the GRADES tables
below are that grading, one row per kind of answer, with its one-line reasons. The script only
applies them to 64 golden items per task, so the file can be rebuilt and reviewed.

    python scripts/make_judge_calibration.py            # writes golden_sets/judge_calibration.jsonl
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PER_TASK = 64
URGENCY = ["low", "medium", "high", "critical"]
CATEGORIES = ["billing", "technical", "account", "shipping", "feature_request", "security"]
CRITERIA = ("accuracy", "format", "conciseness", "hallucination")

# kind -> (accuracy, format, conciseness, hallucination), reason per criterion
TRIAGE: dict[str, tuple[tuple[int, int, int, int], tuple[str, str, str, str]]] = {
    "exact": ((5, 5, 5, 5), ("category, urgency and summary match the reference", "bare JSON with exactly the three keys and allowed values", "one short sentence", "every fact is in the ticket")),
    "fenced": ((5, 4, 5, 5), ("category, urgency and summary match the reference", "right JSON but wrapped in a code fence", "one short sentence", "every fact is in the ticket")),
    "preamble": ((5, 4, 5, 5), ("category, urgency and summary match the reference", "right JSON but with a sentence before it", "one short sentence", "every fact is in the ticket")),
    "urgency_one_step": ((4, 5, 5, 5), ("category right, urgency one step off the reference", "bare JSON with the three keys", "one short sentence", "every fact is in the ticket")),
    "urgency_two_steps": ((3, 5, 5, 5), ("category right, urgency two or more steps off", "bare JSON with the three keys", "one short sentence", "every fact is in the ticket")),
    "wrong_category": ((3, 5, 5, 5), ("category wrong while urgency and summary are right", "bare JSON with the three keys", "one short sentence", "every fact is in the ticket")),
    "wrong_category_and_urgency": ((2, 5, 5, 5), ("category and urgency both wrong, summary about this ticket", "bare JSON with the three keys", "one short sentence", "every fact is in the ticket")),
    "extra_key": ((5, 3, 5, 5), ("category, urgency and summary match the reference", "valid JSON with an extra key", "one short sentence", "every fact is in the ticket")),
    "broken_json": ((5, 2, 5, 5), ("the three values are right", "almost JSON: single quotes, not parseable", "one short sentence", "every fact is in the ticket")),
    "key_value_text": ((5, 2, 5, 5), ("the three values are right", "key: value lines, not JSON", "one short sentence", "every fact is in the ticket")),
    "prose": ((1, 1, 4, 5), ("no urgency or category fields at all", "prose, not JSON", "one sentence, a little long", "every fact is in the ticket")),
    "padded_summary": ((5, 5, 3, 4), ("category, urgency and summary match the reference", "bare JSON with the three keys", "two sentences in the summary", "adds a claim the ticket does not make")),
    "invented_detail": ((5, 5, 5, 3), ("category, urgency and summary match the reference", "bare JSON with the three keys", "one short sentence", "an invented case number")),
    "other_ticket": ((1, 5, 5, 1), ("the triage of a different ticket", "bare JSON with the three keys", "one short sentence", "about a different ticket")),
    "loop": ((1, 1, 1, 1), ("no fields, not about this ticket", "not JSON", "the same line repeated", "unrelated repeated text")),
}

ALARM: dict[str, tuple[tuple[int, int, int, int], tuple[str, str, str, str]]] = {
    "exact": ((5, 5, 5, 5), ("failure, site, impact and cause as in the reference", "one plain sentence", "short, every word useful", "every fact is in the alarms")),
    "labelled": ((5, 4, 5, 5), ("failure, site, impact and cause as in the reference", "one sentence behind a 'Summary:' label", "short, every word useful", "every fact is in the alarms")),
    "extra_sentence": ((5, 3, 4, 4), ("failure, site, impact and cause as in the reference", "two sentences", "one needless sentence", "adds an action the alarms do not support")),
    "bullets": ((5, 2, 4, 5), ("the reference's content", "a bullet list, not a sentence", "split into fragments", "every fact is in the alarms")),
    "alarm_lines": ((2, 2, 2, 5), ("alarm lines copied back, nothing read from them", "alarm lines, not a sentence", "lists alarms one by one", "copied from the alarms")),
    "wrong_site": ((3, 5, 5, 3), ("right failure, wrong site", "one plain sentence", "short", "an invented site id")),
    "first_clause": ((4, 5, 5, 5), ("right failure and site, the rest missing", "one plain sentence", "short", "every fact is in the alarms")),
    "other_alarms": ((1, 5, 5, 1), ("a summary of different alarms", "one plain sentence", "short", "about different alarms")),
    "cut_off": ((3, 1, 5, 5), ("starts right but stops before the impact", "cut off mid-word", "short", "every fact is in the alarms")),
    "loop": ((2, 2, 1, 3), ("the failure named, nothing else", "one clause repeated, not a sentence", "repeats itself", "repetition implies events that did not happen")),
    "alarm_ids": ((5, 5, 4, 5), ("failure, site, impact and cause as in the reference", "one plain sentence", "needless alarm ids", "every fact is in the alarms")),
    "invented_cause": ((4, 5, 5, 3), ("the cause differs from the reference", "one plain sentence", "short", "a cause the alarms do not show")),
}


def _pick(items: list[dict[str, Any]], n: int, salt: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda r: hashlib.sha256((salt + r["id"]).encode()).digest())[:n]


def _j(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False)


def triage_answer(kind: str, ref: dict[str, str], other: dict[str, str], n: int) -> str:
    r = dict(ref)
    u = URGENCY.index(r["urgency"])
    if kind == "exact":
        return _j(r)
    if kind == "fenced":
        return "```json\n" + _j(r) + "\n```"
    if kind == "preamble":
        return "Here is the triage of this ticket:\n" + _j(r)
    if kind == "urgency_one_step":
        return _j({**r, "urgency": URGENCY[u + 1 if u < 3 else u - 1]})
    if kind == "urgency_two_steps":
        return _j({**r, "urgency": URGENCY[u + 2 if u < 2 else u - 2]})
    wrong_cat = CATEGORIES[(CATEGORIES.index(r["category"]) + 1 + n % 5) % 6]
    if kind == "wrong_category":
        return _j({**r, "category": wrong_cat})
    if kind == "wrong_category_and_urgency":
        return _j({**r, "category": wrong_cat, "urgency": URGENCY[u + 2 if u < 2 else u - 2]})
    if kind == "extra_key":
        return _j({**r, "priority": "P2"})
    if kind == "broken_json":
        return "{'summary': '" + r["summary"].replace("'", "") + "', 'urgency': '" + r["urgency"] + "', 'category': '" + r["category"] + "'}"
    if kind == "key_value_text":
        return f"summary: {r['summary']}\nurgency: {r['urgency']}\ncategory: {r['category']}"
    if kind == "prose":
        return r["summary"]
    if kind == "padded_summary":
        return _j({**r, "summary": r["summary"].rstrip(".") + ". The customer has been promised a call back within the hour."})
    if kind == "invented_detail":
        return _j({**r, "summary": r["summary"].rstrip(".") + f" (case #{48000 + n * 37})."})
    if kind == "other_ticket":
        return _j(other)
    if kind == "loop":
        return "\n".join(["A: 1000"] * 12)
    raise ValueError(kind)


_SITE = re.compile(r"\b([A-Za-z]{2,}[-_ ]?)(\d{3,})\b")


def alarm_answer(kind: str, ref: str, other: str, alarms: str, n: int) -> str | None:
    if kind == "exact":
        return ref
    if kind == "labelled":
        return "Summary: " + ref
    if kind == "extra_sentence":
        return ref.rstrip(".") + ". The field team should be dispatched immediately."
    if kind == "bullets":
        parts = [p.strip(" .") for p in re.split(r"[;,]", ref) if p.strip(" .")]
        return "\n".join(f"- {p}" for p in parts) if len(parts) > 1 else None
    if kind == "alarm_lines":
        return "\n".join(alarms.strip().splitlines()[:3])
    if kind == "wrong_site":
        m = _SITE.search(ref)
        if not m:
            return None
        digits = m.group(2)
        swapped = str((int(digits) + 4111) % (10 ** len(digits))).zfill(len(digits))
        return ref[: m.start(2)] + swapped + ref[m.end(2) :]
    if kind == "first_clause":
        head = re.split(r"[;,(]| and | with ", ref, maxsplit=1)[0].strip()
        return head + "." if len(head) < len(ref) - 15 else None
    if kind == "other_alarms":
        return other
    if kind == "cut_off":  # stop inside a word a little before the middle
        for cut in range(max(12, int(len(ref) * 0.45)), len(ref) - 1):
            if ref[cut - 1].isalpha() and ref[cut].isalpha():
                return ref[:cut]
        return None
    if kind == "loop":
        head = re.split(r"[;,(]", ref, maxsplit=1)[0].strip()
        return ", ".join([head] * 6)
    if kind == "alarm_ids":
        ids = [x for x in dict.fromkeys(re.findall(r"(?:id=|Id[=:, ]\s*)?\b(\d{5,})\b", alarms)) if x not in ref][:3]
        return ref.rstrip(".") + f" (alarm ids {', '.join(ids)})." if ids else None
    if kind == "invented_cause":  # only where the alarms point elsewhere (not already a fibre fault)
        if re.search(r"fib(re|er)|LOS|optic", ref, re.IGNORECASE):
            return None
        return ref.rstrip(".") + ", most likely caused by a fibre cut on the backhaul."
    raise ValueError(kind)


def build() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for task, table, field in (("ticket_triage", TRIAGE, "ticket"), ("alarm_summary", ALARM, "alarms")):
        gold = [json.loads(line) for line in (ROOT / "golden_sets" / f"{task}.jsonl").read_text().splitlines() if line.strip()]
        picked = _pick(gold, PER_TASK + 40, "judge-calibration")  # spares: `other` answers come from them too
        kinds = list(table)
        for n, item in enumerate(picked[:PER_TASK]):
            other = picked[(n + 7) % len(picked)]
            for shift in range(len(kinds)):  # the item's kind, or the next one that applies to it
                kind = kinds[(n + shift) % len(kinds)]
                if task == "ticket_triage":
                    answer = triage_answer(kind, item["reference"], other["reference"], n)
                else:
                    answer = alarm_answer(kind, item["reference"], other["reference"], item[field], n)
                if answer:
                    break
            scores, reasons = table[kind]
            rows.append({
                "id": f"cal-{task}-{n + 1:03d}", "task": task, "item": item["id"], "kind": kind, "answer": answer,
                "scores": dict(zip(CRITERIA, scores, strict=True)), "reasons": dict(zip(CRITERIA, reasons, strict=True)),
            })  # fmt: skip
    return rows


def main() -> int:
    rows = build()
    out = ROOT / "golden_sets" / "judge_calibration.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["task"]] = counts.get(r["task"], 0) + 1
    print(f"{out.relative_to(ROOT)}: {len(rows)} graded answers ({', '.join(f'{t} {n}' for t, n in counts.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
