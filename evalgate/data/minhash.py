"""MinHash signatures of character shingles, computed for many texts at once with numpy,
and a near-duplicate index (sub-quadratic): banded LSH tables of its own, with the banding
(bands x rows) that datasketch's MinHashLSH chooses for the threshold, and every candidate
verified by its estimated Jaccard similarity. datasketch is used for that banding choice and
for `Sketcher.minhash` (a datasketch MinHash of a signature); its index is not.

The signatures are exactly what `datasketch.MinHash(hashfunc=shingle_hash).update_batch(shingles)`
computes (affine32 scheme), only vectorised across shingles and texts.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH

_MULT = np.uint64(0x100000001B3)
_MASK64 = (1 << 64) - 1
# Texts are sketched in batches of about this many characters: the (permutations x shingles)
# matrix then stays in cache, which measured ~20x faster than one large matrix.
_BATCH_CHARS = 1 << 13


def shingle_hash(shingle: str) -> int:
    """32-bit hash of one shingle (scalar reference of the vectorised rolling hash)."""
    h = 0
    for ch in shingle:
        h = (h * int(_MULT) + ord(ch)) & _MASK64
    return (h ^ (h >> 32)) & 0xFFFFFFFF


def _fmix(hv: np.ndarray, shifts: tuple[int, int, int], mults: tuple[int, int]) -> np.ndarray:
    """MurmurHash3's finaliser, vectorised: xor-shift, multiply, xor-shift, multiply, xor-shift,
    in the array's own unsigned width (uint32: fmix32, uint64: fmix64)."""
    t = hv.dtype.type
    hv = hv ^ (hv >> t(shifts[0]))
    hv = hv * t(mults[0])
    hv = hv ^ (hv >> t(shifts[1]))
    hv = hv * t(mults[1])
    return hv ^ (hv >> t(shifts[2]))


def _fmix32(hv: np.ndarray) -> np.ndarray:
    return _fmix(hv, (16, 13, 16), (0x85EBCA6B, 0xC2B2AE35))


def _fmix64(hv: np.ndarray) -> np.ndarray:
    return _fmix(hv, (33, 33, 33), (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53))


class Sketcher:
    """Computes (n_texts, num_perm) uint32 MinHash signatures of k-character shingles."""

    def __init__(self, shingle_size: int, num_perm: int, seed: int):
        self.k = shingle_size
        self.num_perm = num_perm
        self.seed = seed
        self.permutations = MinHash(num_perm=num_perm, seed=seed).permutations
        self._empty = np.full(num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)

    def _shingle_hashes(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All shingle hashes of `texts` concatenated, and the count per text."""
        k = self.k
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        total = len(codes)
        windows = max(total - k + 1, 0)
        h = np.zeros(windows, dtype=np.uint64)
        for j in range(k):
            h = h * _MULT + codes[j : j + windows]
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        counts = np.maximum(lengths - k + 1, 0)
        # Window positions that lie wholly inside one text.
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        positions = np.repeat(starts, counts) + offsets
        h = h[positions]
        short = np.flatnonzero((lengths > 0) & (lengths < k))
        if short.size:
            # A text shorter than one shingle is a single shingle of itself.
            extra = np.array([shingle_hash(texts[i]) for i in short], dtype=np.uint64)
            insert_at = np.cumsum(counts)[short]
            h32 = ((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
            h32 = np.insert(h32, insert_at, extra.astype(np.uint32))
            counts = counts.copy()
            counts[short] = 1
            return h32, counts
        return ((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32), counts

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        start = 0
        while start < len(texts):
            end, chars = start, 0
            while end < len(texts) and (chars < _BATCH_CHARS or end == start):
                chars += len(texts[end])
                end += 1
            out[start:end] = self._signatures_batch(texts[start:end])
            start = end
        return out

    def _signatures_batch(self, texts: Sequence[str]) -> np.ndarray:
        hashes, counts = self._shingle_hashes(texts)
        out = np.tile(self._empty, (len(texts), 1))
        if hashes.size == 0:
            return out
        # Permutations along rows so each text's shingles are contiguous for reduceat.
        permuted = np.multiply.outer(self.permutations[0], _fmix32(hashes))
        permuted += self.permutations[1][:, None]
        nonempty = np.flatnonzero(counts > 0)
        bounds = (np.cumsum(counts) - counts)[nonempty]
        out[nonempty] = np.minimum.reduceat(permuted, bounds, axis=1).T
        return out

    def minhash(self, signature: np.ndarray) -> MinHash:
        """A full datasketch MinHash of a signature (for interoperability and tests)."""
        return MinHash(
            seed=self.seed, hashvalues=signature, permutations=self.permutations, scheme="affine32"
        )


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / a.shape[-1]


class NearDuplicateIndex:
    """Query-then-insert LSH index over MinHash signatures.

    The banding (b bands of r rows) is the one datasketch's MinHashLSH chooses for the
    threshold and number of permutations. Band keys are computed for many signatures at once
    with numpy (a 64-bit hash of each band) instead of one bytes object per band per record,
    which was most of the index's run time. Every candidate is verified with the estimated
    Jaccard similarity, so a key collision can add a candidate but never a false match.
    """

    def __init__(self, sketcher: Sketcher, threshold: float):
        self.sketcher = sketcher
        self.threshold = threshold
        params = MinHashLSH(threshold=threshold, num_perm=sketcher.num_perm)
        self.bands, self.rows = params.b, params.r
        self.tables: list[dict[int, list[Hashable]]] = [{} for _ in range(self.bands)]
        self.signatures: dict[Hashable, np.ndarray] = {}
        self.order: dict[Hashable, int] = {}
        mix = np.random.RandomState(0x5EED).randint(1, 2**63, size=self.rows, dtype=np.uint64)
        self._mix = mix | np.uint64(1)

    def band_keys(self, signatures: np.ndarray) -> list[list[int]]:
        """(n, bands) 64-bit keys: each band's r values combined with odd multipliers."""
        used = signatures[:, : self.bands * self.rows].astype(np.uint64)
        bands = used.reshape(len(signatures), self.bands, self.rows)
        keys = (_fmix64(bands) * self._mix).sum(axis=2, dtype=np.uint64)
        return keys.tolist()

    def match(self, signature: np.ndarray, keys: list[int]) -> tuple[Hashable, float] | None:
        """The most similar indexed key (earliest on ties, so set order never matters)."""
        candidates: set[Hashable] = set()
        for table, key in zip(self.tables, keys, strict=True):
            found = table.get(key)
            if found:
                candidates.update(found)
        hits = []
        for cand in candidates:
            sim = estimated_jaccard(signature, self.signatures[cand])
            if sim >= self.threshold:
                hits.append((-sim, self.order[cand], cand))
        if not hits:
            return None
        neg_sim, _, best = min(hits)
        return best, -neg_sim

    def insert(self, item: Hashable, signature: np.ndarray, keys: list[int]) -> None:
        for table, key in zip(self.tables, keys, strict=True):
            table.setdefault(key, []).append(item)
        self.signatures[item] = signature
        self.order[item] = len(self.order)
