"""What the example-data generators share: seeded choices, text checks, and the leakage and
near-duplicate check (datasketch MinHash + MinHashLSH on 5-character shingles) that keeps golden
items out of training, training free of accidental near-duplicates, and golden items apart."""

from __future__ import annotations

import json
import os
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from datasketch import MinHash, MinHashLSH

T = TypeVar("T")
R = random.Random

TT_SYSTEM = (
    "You are a support triage assistant. Read the ticket and reply with JSON only, exactly these "
    'keys: "summary" (one sentence), "urgency" (low, medium, high or critical), "category" '
    "(billing, technical, account, shipping, feature_request or security)."
)
AS_INSTRUCTION = (
    "Summarise these network alarms for the NOC shift log in one sentence: what failed, where, "
    "the impact and the likely cause."
)

DEFAULT_SEED = 20261123
N_TT_TRAIN, N_TT_GOLDEN = 540, 300
N_AS_ALPACA, N_AS_NOC, N_AS_GOLDEN = 380, 150, 300
NUM_PERM, LSH_THRESHOLD, SHINGLE = 128, 0.5, 5
LEAK_MAX = 0.6  # golden input vs any training input: must stay below
NEAR_DUP = 0.85  # within training / within golden: must stay below
PLANTED_NEAR_DUP = 0.9  # the deliberate near-duplicates sit above this, so dedup surely sees them
MAX_TRIES = 500
# The pipeline rejects rendered chats over 1024 base-model (SmolLM2) tokens. Without a tokenizer
# we bound the count from above (calibrated on these formats: real <= chars/1.3 and <= est/0.72)
# and keep inputs well inside the budget, leaving room for instruction, answer and template.
MAX_INPUT_TOKENS = {"ticket": 700, "alarms": 760}
URGENCIES = ("low", "medium", "high", "critical")
CATEGORIES = ("billing", "technical", "account", "shipping", "feature_request", "security")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def pick(r: R, seq: Sequence[T]) -> T:
    return seq[r.randrange(len(seq))]


def chance(r: R, p: float) -> bool:
    return r.random() < p


def wpick(r: R, pairs: Sequence[tuple[T, float]]) -> T:
    x = r.random() * sum(w for _, w in pairs)
    for item, w in pairs:
        x -= w
        if x < 0:
            return item
    return pairs[-1][0]


def some(r: R, seq: Sequence[T], lo: int, hi: int) -> list[T]:
    return r.sample(list(seq), min(len(seq), r.randint(lo, hi)))


def digits(r: R, n: int) -> str:
    return str(r.randint(10 ** (n - 1), 10**n - 1))


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def shingles(text: str) -> set[str]:
    t = normalize(text)
    if len(t) < SHINGLE:
        return {t}
    return {t[i : i + SHINGLE] for i in range(len(t) - SHINGLE + 1)}


def token_bound(text: str) -> float:
    """Conservative upper bound on SmolLM2 tokens: digits and symbols are ~1 token each."""
    est = sum(1 if not p.isalpha() else 1 + len(p) // 6
              for p in re.findall(r"\d|[A-Za-z]+|\S", text))
    return min(len(text) / 1.3, est / 0.72)


def word_count(s: str) -> int:
    return len(s.split())


def one_sentence(s: str, max_words: int) -> bool:
    body = s[:-1]
    return (
        s.endswith(".")
        and "\n" not in s
        and word_count(s) <= max_words
        and not re.search(r"[.!?]\s+[A-Z]", body)
        and not body.endswith(".")
    )


def grounded(summary: str, text: str, names: Sequence[str]) -> bool:
    """Every id/number-like token (3+ chars with a digit) and known name in the summary occurs
    in the source text, so references never invent facts."""
    low = text.casefold()
    for tok in re.findall(r"[\w#$€£:./,-]*\d[\w#$€£:./,%-]*", summary):
        tok = tok.strip(".,;:()%")
        if len(tok) >= 3 and tok.casefold() not in low:
            return False
    return all(n.casefold() in low for n in names if n and n in summary)


def third(fragment: str) -> str:
    """Turn a customer's first-person fragment into third person for a reference summary."""
    for pat, rep_ in ((r"\bour\b", "their"), (r"\bmy\b", "their"), (r"\bwe\b", "they"),
                      (r"\bus\b", "them"), (r"\bI\b", "they")):
        fragment = re.sub(pat, rep_, fragment)
    return fragment


def ascii_slug(s: str) -> str:
    s = s.translate(str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "ß": "ss", "ı": "i", "đ": "d"}))
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", s.lower())


# --------------------------------------------------------------------------------------------
# domain 1: support-ticket triage
# --------------------------------------------------------------------------------------------


def minhash(sh: set[str]) -> MinHash:
    m = MinHash(num_perm=NUM_PERM)
    m.update_batch([s.encode("utf-8") for s in sorted(sh)])
    return m


class SimIndex:
    """LSH index over 5-character shingle MinHashes; answers 'most similar indexed key'."""

    def __init__(self) -> None:
        self.lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        self.mh: dict[str, MinHash] = {}
        self.sh: dict[str, set[str]] = {}

    def add(self, key: str, sh: set[str], mh: MinHash) -> None:
        self.lsh.insert(key, mh)
        self.mh[key], self.sh[key] = mh, sh

    def best(self, mh: MinHash, skip: frozenset[str] = frozenset()) -> tuple[float, str | None]:
        hits = sorted((-mh.jaccard(self.mh[k]), k) for k in self.lsh.query(mh) if k not in skip)
        return (-hits[0][0], hits[0][1]) if hits else (0.0, None)


def exact_jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass
class Pool:
    """Accepted training records of one domain with their similarity indexes."""

    full: SimIndex = field(default_factory=SimIndex)
    inp: SimIndex = field(default_factory=SimIndex)
    outputs: dict[str, str] = field(default_factory=dict)  # normalised input -> output
    rejected: int = 0

    def try_add(self, key: str, inp: str, full_text: str, out: str) -> bool:
        n = normalize(inp)
        if n in self.outputs:
            self.rejected += 1
            return False
        fsh = shingles(full_text)
        fmh = minhash(fsh)
        if self.full.best(fmh)[0] >= NEAR_DUP:
            self.rejected += 1
            return False
        ish = shingles(inp)
        self.full.add(key, fsh, fmh)
        self.inp.add(key, ish, minhash(ish))
        self.outputs[n] = out
        return True


def gen_golden(r: R, n: int, prefix: str, train: Pool, make: Callable[[R], tuple[str, T]],
               as_input: Callable[[str], str]) -> tuple[list[tuple[str, str, T]], int]:
    """Golden items whose input stays below LEAK_MAX vs training and NEAR_DUP vs each other."""
    gold = SimIndex()
    out: list[tuple[str, str, T]] = []
    rejected = 0
    while len(out) < n:
        for _ in range(MAX_TRIES):
            text, ref = make(r)
            inp = as_input(text)
            sh = shingles(inp)
            mh = minhash(sh)
            if (normalize(inp) not in train.outputs and train.inp.best(mh)[0] < LEAK_MAX
                    and gold.best(mh)[0] < NEAR_DUP
                    and max(exact_jaccard(sh, t) for t in train.inp.sh.values()) < LEAK_MAX):
                break
            rejected += 1
        else:
            raise SystemExit(f"error: could not draw a non-leaking golden item for {prefix}")
        key = f"{prefix}{len(out) + 1:03d}"
        gold.add(key, sh, mh)
        out.append((key, text, ref))
    return out, rejected


# --------------------------------------------------------------------------------------------
# deliberate duplicates for the triage training file
# --------------------------------------------------------------------------------------------

SWAPS = {"please": "kindly", "problem": "issue", "issue": "problem", "today": "this morning",
         "again": "once more", "really": "truly", "still": "yet", "customer": "client",
         "error": "failure", "working": "functioning", "help": "assist", "order": "purchase",
         "account": "profile", "think": "believe", "thanks": "cheers", "also": "as well",
         "can't": "cannot", "urgent": "pressing", "email": "mail", "every": "each"}


def exact_dup(r: R, text: str) -> str:
    variant = r.randrange(3)
    if variant == 0:
        lines = text.split("\n")
        return "\n".join(ln.upper() if i == 0 else ln + "  " for i, ln in enumerate(lines)) + "\n"
    if variant == 1:
        return "  " + re.sub(r" ", "  ", text, count=6).replace("\n\n", "\n\n\n").lower()
    return re.sub(r"\n+", "\n", text).replace(". ", ".\t", 3) + " "


def near_dup(r: R, text: str) -> str | None:
    spots = [m for m in re.finditer(r"(?<![@.])\b[a-z']+\b(?![@.]\w)", text)
             if m.group() in SWAPS]
    if len(spots) < 2:
        return None
    chosen = sorted(r.sample(spots, 2), key=lambda m: m.start(), reverse=True)
    for m in chosen:
        text = text[: m.start()] + SWAPS[m.group()] + text[m.end():]
    return text


# --------------------------------------------------------------------------------------------
# build + verify + write
# --------------------------------------------------------------------------------------------


def verify(pool: Pool, gold: list[tuple[str, str]], as_inp: Callable[[str], str], name: str,
           dup_keys: set[str]) -> dict[str, float]:
    """Final pass: LSH-estimated and exact max Jaccard golden-vs-train and within train."""
    est_max, exact_max = 0.0, 0.0
    gsh = [shingles(as_inp(t)) for _, t in gold]
    for (gk, _), sh in zip(gold, gsh, strict=True):
        est, _k = pool.inp.best(minhash(sh))
        est_max = max(est_max, est)
        if est >= LEAK_MAX:
            raise SystemExit(f"error: {name} golden item {gk} leaks into training "
                             f"(estimated Jaccard {est:.2f} >= {LEAK_MAX})")
        for tsh in pool.inp.sh.values():
            j = exact_jaccard(sh, tsh)
            if j > exact_max:
                exact_max = j
    if exact_max >= LEAK_MAX:
        raise SystemExit(f"error: {name} golden set overlaps training (exact Jaccard "
                         f"{exact_max:.2f} >= {LEAK_MAX})")
    within = 0.0
    for k, mh in pool.full.mh.items():
        within = max(within, pool.full.best(mh, skip=frozenset({k}))[0])
    if within >= NEAR_DUP:
        raise SystemExit(f"error: {name} training holds an unplanned near-duplicate "
                         f"(estimated Jaccard {within:.2f})")
    return {"cross_split_max_estimated": est_max, "cross_split_max_exact": exact_max,
            "train_within_max_estimated": within, "deliberate_dups": len(dup_keys)}


def write_jsonl(path: Path, records: list[dict[str, object]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return str(path)
