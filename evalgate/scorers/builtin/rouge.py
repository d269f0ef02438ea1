"""ROUGE via rouge-score, with a tokenizer that keeps non-Latin text.

rouge-score's default tokenizer lowercases and turns every character outside [a-z0-9] into a
space, so Chinese, Greek, Arabic or accented words vanish and score 0. `UnicodeTokenizer`
keeps Unicode letters and digits (with their combining marks), splits scripts written without
spaces (CJK ideographs, kana, hangul, Thai, Lao, Khmer, Myanmar) into single characters, and
applies the Porter stemmer exactly as rouge-score does, to ASCII tokens longer than 3
characters. On ASCII text it gives the same tokens as rouge-score's default tokenizer.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any, Literal

from pydantic import Field

from evalgate.scorers.builtin._common import (
    FieldPath,
    ItemScorer,
    bad_reference,
    field_prefix,
    output_text,
    reference_text,
)
from evalgate.scorers.registry import scorer
from evalgate.yamlconf import StrictModel

# Scripts written without spaces between words: each character is a token.
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility Jamo, Katakana extensions
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A
    (0xAC00, 0xD7FF),  # Hangul syllables, Jamo Extended-B
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0xFF66, 0xFFDC),  # Halfwidth Katakana and Hangul
    (0x20000, 0x3134F),  # CJK Extensions B-G, Compatibility Supplement
)
_VALID_ASCII_TOKEN = re.compile(r"^[a-z0-9]+$")  # rouge_score.tokenize.VALID_TOKEN_RE


def _unspaced(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _UNSPACED)


class UnicodeTokenizer:
    """A rouge-score tokenizer (has `.tokenize(text)`) for any script; see the module doc."""

    def __init__(self, use_stemmer: bool = True):
        self._stem = None
        if use_stemmer:
            from nltk.stem import porter  # what rouge_score.tokenizers uses

            self._stem = functools.lru_cache(maxsize=65536)(porter.PorterStemmer().stem)

    def words(self, text: str) -> list[str]:
        """Lowercased runs of letters/digits (+ combining marks); unspaced scripts split."""
        tokens: list[str] = []
        current: list[str] = []
        last_single = False  # the last token is a single unspaced-script character
        for ch in unicodedata.normalize("NFKC", text).lower():
            kind = unicodedata.category(ch)[0]
            if kind == "M":  # a combining mark belongs to the letter before it
                if current:
                    current.append(ch)
                elif last_single:
                    tokens[-1] += ch
                continue
            if current and (kind not in "LN" or _unspaced(ch)):
                tokens.append("".join(current))
                current = []
            if kind in "LN":
                if _unspaced(ch):
                    tokens.append(ch)
                    last_single = True
                else:
                    current.append(ch)
                    last_single = False
            else:
                last_single = False
        if current:
            tokens.append("".join(current))
        return tokens

    def tokenize(self, text: str) -> list[str]:
        out = []
        for token in self.words(text):
            if token.isascii():
                if self._stem is not None and len(token) > 3:
                    token = self._stem(token)
                if not _VALID_ASCII_TOKEN.match(token):
                    continue
            out.append(token)
        return out


@scorer("rouge", higher_is_better=True, binary=False, value_range=(0.0, 1.0))
class Rouge(ItemScorer):
    """ROUGE-1/2/L/Lsum of the output against the reference (rouge-score, Unicode-aware
    tokenizer). rougeLsum splits sentences on newlines, as rouge-score does."""

    class Params(StrictModel):
        type: Literal["rouge1", "rouge2", "rougeL", "rougeLsum"] = "rougeL"
        stat: Literal["f", "p", "r"] = Field("f", description="f-measure, precision or recall.")
        stemmer: bool = Field(True, description="Porter-stem ASCII words longer than 3 characters.")
        field: FieldPath | None = Field(None, description="Score this JSON field of output and reference.")

    def __init__(self, params: Params):
        super().__init__(params)
        from rouge_score import rouge_scorer

        self._tokenizer = UnicodeTokenizer(use_stemmer=params.stemmer)
        self._rouge = rouge_scorer.RougeScorer([params.type], tokenizer=self._tokenizer)

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float, str]:
        p = self.params
        expected = reference_text(reference, p.field)
        if not self._tokenizer.tokenize(expected):
            raise bad_reference("reference has no words")
        got = output_text(output, p.field)
        result = self._rouge.score(expected, got)[p.type]
        value = {"f": result.fmeasure, "p": result.precision, "r": result.recall}[p.stat]
        note = "" if self._tokenizer.tokenize(got) else " (no words in output)"
        return float(value), f"{field_prefix(p.field)}{p.type} {p.stat}={value:.3f}{note}"
