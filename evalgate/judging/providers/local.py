"""`local`: a Hugging Face model in this process, fully offline (the built-in model by default).

No text is generated. The reply prefix is forced, `{"<criterion>": {"score": `, and the
next-token probabilities of "1".."5" are read; the score is their probability-weighted mean,
and an item whose five digits hold less than half the probability mass is unscored. Pairwise,
the prefix is `{"winner": "` and the next token is read among "A", "B" and "tie". The rubric
and the answer are encoded once per answer; every criterion's prefix reuses that encoding
(`HFBackend.next_token_probs(..., suffixes=...)`). Deterministic: each request runs on its own
after its anchors, the rubric's instructions (computed once per rubric and task) and then the
item's input and reference (once per item: the base's and the candidate's answers share it), so
a grade is a function of the request alone, never of which requests were graded beside it or in
which order: on a CPU a batch's padding and row count change the rounding, and a cached grade
would then differ from a cold run's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from evalgate.generate.registry import ProviderContext, provider
from evalgate.judging.engine import JudgeCall, Outcome
from evalgate.judging.parse import Parsed, probability_weighted

DIGITS = ["1", "2", "3", "4", "5"]
INPUT_HEADING = "\n## Input\n"
"""Where the item's own text starts in a judge prompt (evalgate.judging.prompt.USER)."""
ANSWER_HEADINGS = ("\n## The answer to grade\n", "\n## Answer A\n")
"""Where the answers start, pointwise and pairwise: what comes before depends on the item only."""
WINNERS = ["A", "B", "tie"]
MIN_MASS = 0.5


class LocalJudge:
    provider = "local"
    reading = "each request alone after its anchors: instructions, then the item"
    """Part of every grade's cache key: grades read another way (in shared batches, or after the
    instructions alone) are not reused."""

    def __init__(self, spec: str, *, device: str, compute_dtype: str, token_budget: int, max_batch_size: int, chunk: int = 64):
        from evalgate.generate.hf import HFBackend
        from evalgate.loading import resolve_placement
        from evalgate.models import base_model_sha256, load_tokenizer, resolve_base

        self.ref = resolve_base(spec)
        self.tokenizer = load_tokenizer(self.ref)
        self.sha256 = base_model_sha256(self.ref)
        self.placement = resolve_placement(device, compute_dtype)
        # The weights' hash and the engine (dtype, ISA class, threads) decide the probabilities:
        # all are in the id, so grades made in bfloat16 on one CPU class are not reused elsewhere.
        self.model = f"{spec}@{self.sha256[:12]}/{self.placement.tag()}"
        self.backend = HFBackend(
            self.ref, self.tokenizer, adapter_dir=None, quantization="none", placement=self.placement,
            token_budget=token_budget, max_batch_size=max_batch_size,
        )  # fmt: skip
        self.chunk = chunk

    def identity(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "sha256": self.sha256, **self.placement.engine()}

    def _prompt(self, messages: Sequence[tuple[str, str]]) -> str:
        from evalgate.prompts import render_prompt

        return render_prompt(self.tokenizer, [{"role": r, "content": c} for r, c in messages])

    def _anchors(self, messages: Sequence[tuple[str, str]]) -> list[str]:
        """What requests share, shortest first: the messages up to where the item's input starts
        (the rubric's instructions and the task's description: every request of one rubric and
        task), then up to where the answers start (the item's input and reference too: the base's
        and the candidate's answers to one item). Each runs once."""
        role, content = messages[-1]
        out = []
        for heading in (INPUT_HEADING, *ANSWER_HEADINGS):
            cut = content.find(heading)
            if cut >= 0:
                out.append(self._prompt([*messages[:-1], (role, content[: cut + 1])]))
                if heading != INPUT_HEADING:
                    break
        return out or [self._prompt([*messages[:-1], (role, "")])]

    def run(self, calls: Sequence[JudgeCall]) -> Iterator[tuple[int, Outcome]]:
        """Grade `calls` chunk by chunk (so the caller caches as it goes), grouped by what is read."""
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for i, c in enumerate(calls):
            groups.setdefault((c.mode, c.criteria), []).append(i)
        for (mode, criteria), members in groups.items():
            for start in range(0, len(members), self.chunk):
                part = members[start : start + self.chunk]
                prompts = [self._prompt(calls[i].messages) for i in part]
                anchors = [self._anchors(calls[i].messages) for i in part]
                if mode == "pairwise":
                    read = self.backend.next_token_probs(prompts, WINNERS, suffixes=['{"winner": "'], anchors=anchors)
                    for i, probs in zip(part, read, strict=True):
                        yield i, _pairwise(probs[0], self.model)
                else:
                    suffixes = [f'{{"{c}": {{"score": ' for c in criteria]
                    read = self.backend.next_token_probs(prompts, DIGITS, suffixes=suffixes, anchors=anchors)
                    for i, probs in zip(part, read, strict=True):
                        yield i, _pointwise(criteria, probs, self.model)

    def close(self) -> None:
        self.backend.close()


def _fmt(probs: dict[str, float]) -> str:
    return json.dumps({k: round(v, 4) for k, v in probs.items()})


def _pointwise(criteria: tuple[str, ...], probs: list[dict[str, float]], model: str) -> Outcome:
    parsed = Parsed(scores={}, reasons={})
    unscored = []
    for c, p in zip(criteria, probs, strict=True):
        score = probability_weighted(p, logs=False, min_mass=MIN_MASS)
        parsed.scores[c] = round(score, 4) if score is not None else None
        mass = sum(p.values())
        parsed.reasons[c] = f"P(1..5) = {', '.join(f'{p[d]:.2f}' for d in DIGITS)} (mass {mass:.2f})"
        if score is None:
            unscored.append(c)
    if unscored:
        parsed.problem = f"the digits 1-5 hold less than {MIN_MASS:.0%} of the next-token probability for {', '.join(unscored)}"
    raw = json.dumps({c: {k: round(v, 5) for k, v in p.items()} for c, p in zip(criteria, probs, strict=True)})
    return Outcome(parsed, raw, model)


def _pairwise(probs: dict[str, float], model: str) -> Outcome:
    mass = sum(probs.values())
    parsed = Parsed()
    if mass < MIN_MASS:
        parsed.problem = f'"A", "B" and "tie" hold less than {MIN_MASS:.0%} of the next-token probability'
    else:
        parsed.winner = max(WINNERS, key=lambda w: probs[w])
        parsed.reasons["winner"] = f"P(A) {probs['A']:.2f}, P(B) {probs['B']:.2f}, P(tie) {probs['tie']:.2f}"
    return Outcome(parsed, _fmt(probs), model)


@provider("local", capabilities={"next_token_probs", "judge"}, in_process=True)
def local_judge(ctx: ProviderContext) -> LocalJudge:
    """A Hugging Face model in this process, offline (the built-in model by default): scores
    read from the next-token probabilities of "1".."5" after a forced reply prefix."""
    j = ctx.params.judge
    return LocalJudge(
        j.model or ctx.params.model.base, device=j.device, compute_dtype=j.compute_dtype,
        token_budget=j.token_budget, max_batch_size=j.max_batch_size,
    )  # fmt: skip
