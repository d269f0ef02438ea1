"""The example domain `evalgate init` writes: product reviews -> {"sentiment", "topic"} JSON.

Writes evalgate/scaffold/files/data/raw/example.jsonl (training records, chat format) and
evalgate/scaffold/files/golden_sets/example.jsonl (held-out items), seeded, so the committed
files are reproducible (`tests/test_init.py` regenerates and compares them).

Each review is "Review of the <product>: <a sentence about one topic, with one sentiment>
<optional remark about nothing in particular>". A topic sentence is drawn from a small grammar
per (topic, sentiment), so reviews vary in wording while the label follows from the words, as
in real reviews. The golden items use products the training records never mention, and none
near-duplicates a training prompt under the leakage check `evalgate prepare` runs (the package's
own MinHash index at its default threshold), so the gate measures what was learned, not recall.

    python scripts/example_data/reviews.py [--out-root DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = 0
N_TRAIN = 300
N_GOLDEN = 150
SYSTEM = (
    "Read the product review and reply with JSON only: {\"sentiment\": positive, negative or neutral, "
    "\"topic\": battery, quality, delivery, price or usability}."
)
SENTIMENTS = ("positive", "negative", "neutral")
TOPICS = ("battery", "quality", "delivery", "price", "usability")
TRAIN_PRODUCTS = (
    "e-reader", "bluetooth speaker", "wireless headphones", "smartwatch", "desk lamp", "electric toothbrush",
    "action camera", "fitness tracker", "robot vacuum", "portable charger", "drone", "gaming mouse",
)  # fmt: skip
GOLDEN_PRODUCTS = ("tablet", "dash cam", "baby monitor", "electric shaver", "handheld console", "smart doorbell")

# (topic, sentiment) -> alternatives for each slot of the sentence, joined with spaces.
GRAMMAR: dict[tuple[str, str], list[tuple[str, ...]]] = {
    ("battery", "positive"): [
        ("The battery", "Battery life", "The charge"),
        ("lasts", "easily lasts", "keeps going for"),
        ("a whole week.", "three full days.", "longer than promised.", "through a long trip."),
    ],
    ("battery", "negative"): [
        ("The battery", "Battery life", "The charge"),
        ("dies", "runs flat", "drains"),
        ("before lunch.", "within two hours.", "overnight even when it is off.", "far too quickly."),
    ],
    ("battery", "neutral"): [
        ("The battery", "Battery life", "The charge"),
        ("is", "seems"),
        ("about what I expected.", "fine, nothing special.", "average, it needs charging daily."),
    ],
    ("quality", "positive"): [
        ("It feels", "The build feels", "The casing feels"),
        ("solid", "sturdy", "premium"),
        ("and well made.", "and should last for years.", "with no loose parts."),
    ],
    ("quality", "negative"): [
        ("The casing", "The hinge", "The strap", "The button"),
        ("cracked", "broke", "came loose"),
        ("after a week.", "on the second day.", "the first time I used it."),
    ],
    ("quality", "neutral"): [
        ("The build", "The materials", "The finish"),
        ("is", "seems"),
        ("ordinary plastic, not bad, not great.", "about average.", "what you would expect."),
    ],
    ("delivery", "positive"): [
        ("It arrived", "The parcel arrived", "Shipping was quick and it arrived"),
        ("a day early", "two days early", "the next morning"),
        ("and well packed.", "in perfect condition.", "with tracking the whole way."),
    ],
    ("delivery", "negative"): [
        ("The courier", "The delivery company", "The shipping service"),
        ("lost the parcel", "left the box in the rain", "delivered it three weeks late"),
        ("and nobody answered my emails.", "so I asked for a refund.", "and the box was crushed."),
    ],
    ("delivery", "neutral"): [
        ("Delivery", "Shipping", "The parcel"),
        ("took", "needed"),
        ("the usual five days.", "about a week, as stated.", "the normal time."),
    ],
    ("price", "positive"): [
        ("Great value", "Excellent value", "A real bargain"),
        ("for the money,", "at this price,", "for what it costs,"),
        ("I would pay more.", "cheaper than the rivals.", "worth every cent."),
    ],
    ("price", "negative"): [
        ("Far too expensive", "Overpriced", "A waste of money"),
        ("for what you get,", "at this price,", "compared with the rivals,"),
        ("I regret paying so much.", "it should cost half.", "not worth the money."),
    ],
    ("price", "neutral"): [
        ("The price", "What it costs", "The cost"),
        ("is", "seems"),
        ("fair for what it is.", "about the same as elsewhere.", "neither cheap nor expensive."),
    ],
    ("usability", "positive"): [
        ("Setup took two minutes", "The controls are intuitive", "The app is simple to use"),
        ("and", "so"),
        ("even my parents manage it.", "I never opened the manual.", "everything is where you expect."),
    ],
    ("usability", "negative"): [
        ("The menus are confusing", "The buttons are tiny", "The app keeps losing the connection"),
        ("and", "so"),
        ("I gave up on the settings.", "I press the wrong one every time.", "it is a pain to use."),
    ],
    ("usability", "neutral"): [
        ("The controls", "The app", "The setup"),
        ("take", "needs"),
        ("a little getting used to.", "a few minutes to learn.", "the usual steps."),
    ],
}
REMARKS = (
    "", "", "I bought it last month.", "It was a gift for my sister.", "Second one I have owned.",
    "I use it every day.", "Ordered it for my office.", "My son picked the colour.",
)  # fmt: skip


def sentences(topic: str, sentiment: str) -> list[str]:
    return [" ".join(parts) for parts in itertools.product(*GRAMMAR[topic, sentiment])]


def review(rng: random.Random, products: tuple[str, ...], topic: str, sentiment: str) -> str:
    remark = rng.choice(REMARKS)
    text = f"Review of the {rng.choice(products)}: {rng.choice(sentences(topic, sentiment))}"
    return f"{text} {remark}" if remark else text


def label(topic: str, sentiment: str) -> str:
    return json.dumps({"sentiment": sentiment, "topic": topic})


def cells(n: int) -> list[tuple[str, str]]:
    """n (topic, sentiment) cells, balanced over the 15 combinations."""
    combos = [(t, s) for t in TOPICS for s in SENTIMENTS]
    return [combos[i % len(combos)] for i in range(n)]


def generate(seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """Training records that `evalgate prepare` keeps (no exact or near-duplicate of another,
    under its default near_dedup settings) and golden items none of which near-duplicates a
    training prompt (its default leakage threshold): the same MinHash index prepare uses."""
    from evalgate.config import PrepareParams
    from evalgate.data import dedup
    from evalgate.data.minhash import NearDuplicateIndex, Sketcher

    defaults = PrepareParams.model_validate({"inputs": [{"path": "x.jsonl"}]})
    nd = defaults.near_dedup
    sketcher = Sketcher(nd.shingle_size, nd.num_perm, nd.seed)
    near = NearDuplicateIndex(sketcher, nd.threshold)
    prompts = NearDuplicateIndex(sketcher, defaults.leakage.threshold)

    def fresh(index: NearDuplicateIndex, text: str, key: str) -> bool:
        """Whether `text` near-duplicates nothing in `index`; if so it is added under `key`."""
        sig = sketcher.signatures([text])
        keys = index.band_keys(sig)[0]
        if index.match(sig[0], keys) is not None:
            return False
        index.insert(key, sig[0], keys)
        return True

    rng = random.Random(seed)
    train = []
    for n, (topic, sentiment) in enumerate(cells(N_TRAIN), 1):
        for _ in range(1000):
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": review(rng, TRAIN_PRODUCTS, topic, sentiment)},
                {"role": "assistant", "content": label(topic, sentiment)},
            ]
            if fresh(near, dedup.near_text(dedup.normalised(messages)), f"ex-{n:03d}"):
                break
        else:
            raise SystemExit(f"error: no training review for {topic}/{sentiment} stays apart from the others")
        train.append({"id": f"ex-{n:03d}", "messages": messages})
    for r in train:
        fresh(prompts, dedup.user_text(dedup.normalised(r["messages"])), r["id"])
    grng = random.Random(f"{seed}:golden")
    golden = []
    for n, (topic, sentiment) in enumerate(cells(N_GOLDEN), 1):
        for _ in range(1000):
            text = review(grng, GOLDEN_PRODUCTS, topic, sentiment)
            if fresh(prompts, dedup.normalise(text), f"ex-g-{n:03d}"):
                break
        else:
            raise SystemExit(f"error: no golden review for {topic}/{sentiment} stays below the leakage threshold")
        golden.append({"id": f"ex-g-{n:03d}", "review": text, "reference": label(topic, sentiment)})
    return train, golden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-root", type=Path, default=REPO / "evalgate" / "scaffold" / "files")
    args = parser.parse_args()
    train, golden = generate()
    for rel, rows in (("data/raw/example.jsonl", train), ("golden_sets/example.jsonl", golden)):
        path = args.out_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        print(f"wrote {path} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
