"""The vectorised MinHash equals datasketch's; the LSH index finds near-duplicates only."""

from __future__ import annotations

import numpy as np
from datasketch import MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

from evalgate.config import SplitParams
from evalgate.data.dedup import normalise
from evalgate.data.minhash import NearDuplicateIndex, Sketcher, estimated_jaccard, shingle_hash
from evalgate.data.split import assign_split


def reference_signature(text: str, k: int, num_perm: int, seed: int) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash)
    shingles = [text[i : i + k] for i in range(len(text) - k + 1)] if len(text) >= k else ([text] if text else [])
    if shingles:
        m.update_batch(shingles)
    return m.hashvalues


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(max_size=80), min_size=1, max_size=8),
    k=st.integers(min_value=1, max_value=7),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_signatures_equal_datasketch(texts, k, seed):
    sketcher = Sketcher(k, 32, seed)
    got = sketcher.signatures(texts)
    for text, row in zip(texts, got, strict=True):
        assert np.array_equal(row, reference_signature(text, k, 32, seed))


def test_signatures_do_not_depend_on_batching():
    texts = [f"record {i} " + "x" * (i % 50) for i in range(500)]
    sketcher = Sketcher(5, 64, 1)
    together = sketcher.signatures(texts)
    one_by_one = np.vstack([sketcher.signatures([t]) for t in texts])
    assert np.array_equal(together, one_by_one)


def test_estimate_tracks_true_jaccard():
    base = "the quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun " * 3
    edited = base.replace("lazy", "sleepy")
    sk = Sketcher(5, 256, 7)
    a, b = sk.signatures([base, edited])
    sa = {base[i : i + 5] for i in range(len(base) - 4)}
    sb = {edited[i : i + 5] for i in range(len(edited) - 4)}
    true = len(sa & sb) / len(sa | sb)
    assert abs(estimated_jaccard(a, b) - true) < 0.1


def test_index_matches_near_duplicates_and_not_distinct_texts():
    sk = Sketcher(5, 128, 1)
    docs = [
        "router ENB-4411 lost its S1 link at 02:13 UTC after a mains power failure",
        "customer cannot log in after resetting the password on the mobile app",
        "invoice INV-2291 was charged twice this month, please refund one charge",
    ]
    index = NearDuplicateIndex(sk, 0.85)
    sigs = sk.signatures([normalise(d) for d in docs])
    for i, (sig, keys) in enumerate(zip(sigs, index.band_keys(sigs), strict=True)):
        index.insert(i, sig, keys)
    near = normalise("Router ENB-4411 lost its S1 link at 02:13 UTC after a mains power failure!")
    other = "a completely different sentence about shipping delays for parcel 5531"
    queries = sk.signatures([near, other])
    (k_near, k_other) = index.band_keys(queries)
    hit = index.match(queries[0], k_near)
    assert hit is not None and hit[0] == 0 and hit[1] >= 0.85
    assert index.match(queries[1], k_other) is None


def test_candidates_equal_datasketch_minhashlsh():
    """Same banding as datasketch's MinHashLSH: the same candidates for every query."""
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(300)]
    docs = [" ".join(rng.choice(vocab, size=40)) for _ in range(300)]
    # Near copies, so that some queries have real candidates.
    docs += [d[: len(d) - 6] + "w1 w2" for d in docs[:100]]
    sk = Sketcher(5, 128, 1)
    sigs = sk.signatures(docs)
    ours = NearDuplicateIndex(sk, 0.8)
    theirs = MinHashLSH(threshold=0.8, num_perm=128)
    keys = ours.band_keys(sigs)
    for i in range(300):
        ours.insert(i, sigs[i], keys[i])
        theirs.insert(i, sk.minhash(sigs[i]))
    for i in range(300, len(docs)):
        expected = set(theirs.query(sk.minhash(sigs[i])))
        found = {c for t, k in zip(ours.tables, keys[i], strict=True) for c in t.get(k, [])}
        assert found == expected
    assert any(ours.match(sigs[i], keys[i]) for i in range(300, len(docs)))


@given(st.text(min_size=1), st.floats(min_value=0.0, max_value=0.99))
def test_split_is_a_pure_function_of_content(key, fraction):
    params = SplitParams(val_fraction=fraction)
    assert assign_split(key, params) == assign_split(key, params)
    assert assign_split(key, SplitParams(val_fraction=0.0)) == "train"


def test_split_fraction_is_respected():
    params = SplitParams(val_fraction=0.2)
    share = sum(assign_split(f"item-{i}", params) == "val" for i in range(20000)) / 20000
    assert abs(share - 0.2) < 0.015
