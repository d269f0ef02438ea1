#!/usr/bin/env python3
"""Generate the deterministic example datasets shipped with evalgate.

Two domains from the LLM fine-tuning field:

* support-ticket triage (ticket text -> JSON with summary / urgency / category), chat format;
* telecom network alarm summarisation (alarm block -> one NOC shift-log sentence), in Alpaca
  and prompt/completion formats.

Items are composed from many pools (products, people, channels, vendor log styles, phrasings,
sentence orders, typos), seeded with ``random.Random`` so two runs write byte-identical files.
Before anything is written the script checks, with datasketch MinHash + MinHashLSH on
5-character shingles, that no golden item leaks into training, that training holds no
accidental near-duplicates (only the 8 deliberate ones at the end of the triage file), and
that golden items do not near-duplicate each other; colliding candidates are regenerated.

One module per domain under scripts/example_data/ (tickets.py, alarms.py), sharing common.py
(seeded choices, text checks, the leakage and near-duplicate check); reviews.py there writes the
example `evalgate init` scaffolds. tests/test_shipped_data.py regenerates the shipped files and
compares them byte for byte.

Usage: python scripts/make_example_data.py [--seed N] [--out-root DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from example_data.alarms import build_alarms
from example_data.common import DEFAULT_SEED, LEAK_MAX, NEAR_DUP, one_sentence, write_jsonl
from example_data.tickets import build_triage, check_records


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="master seed (default %(default)s)")
    ap.add_argument("--out-root", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="repository root to write data/raw and golden_sets under")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    tt_train, tt_gold, tt_stats = build_triage(args.seed)
    check_records(tt_train, tt_gold)
    as_alpaca, as_noc, as_gold, as_stats = build_alarms(args.seed)
    for rec in as_alpaca + as_noc:
        out = rec.get("output", rec.get("completion"))
        assert isinstance(out, str) and one_sentence(out, 40), rec["id"]
    root: Path = args.out_root
    files = [
        (root / "data/raw/ticket_triage.jsonl", tt_train),
        (root / "golden_sets/ticket_triage.jsonl", tt_gold),
        (root / "data/raw/alarm_summary.jsonl", as_alpaca),
        (root / "data/raw/alarm_summary_noc.jsonl", as_noc),
        (root / "golden_sets/alarm_summary.jsonl", as_gold),
    ]
    for path, recs in files:
        write_jsonl(path, recs)
        print(f"wrote {len(recs):4d} records -> {path.relative_to(root) if path.is_relative_to(root) else path}")
    for name, st in (("ticket_triage", tt_stats), ("alarm_summary", as_stats)):
        print(f"{name}: golden-vs-train max Jaccard estimated={st['cross_split_max_estimated']:.3f} "
              f"exact={st['cross_split_max_exact']:.3f} (limit {LEAK_MAX}); train near-dup max "
              f"estimated={st['train_within_max_estimated']:.3f} (limit {NEAR_DUP}); regenerated "
              f"train={st['train_rejected']:.0f} golden={st['golden_rejected']:.0f}")
    print(f"done in {time.perf_counter() - t0:.1f} s (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
