"""Running lm-evaluation-harness offline on the already-loaded model, and keeping its results.

One model load serves both sides: lm-eval's HF model class is handed the PEFT model object and
tokenizer, and the base is scored through the same object with the adapter disabled. lm-eval's
own request cache is keyed without the model's identity, so it stays off; evalgate keeps each
task's per-document results itself, content-addressed by everything they depend on (base
weights, adapter, precision, task files, data hashes, the document subset, lm-eval's version).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalgate.artifacts import write_json_atomic
from evalgate.errors import InputError, first_line
from evalgate.forgetting.extract import TaskResult, task_result
from evalgate.trunk import TrunkStates, TrunkStore

OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def go_offline(cache: Path) -> None:
    """No download from here on: the offline switches set in the environment, and in the
    libraries' constants when they were imported before (they read them at import)."""
    os.environ.update(OFFLINE)
    os.environ.setdefault("HF_DATASETS_CACHE", str(cache / "hf-datasets"))
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    config = sys.modules.get("datasets.config")
    if config is not None:
        config.HF_DATASETS_OFFLINE = True
        config.HF_HUB_OFFLINE = True
    for name in ("lm-eval", "lm_eval"):
        logging.getLogger(name).setLevel(logging.ERROR)


class ResultStore:
    """Per task and side: lm-eval's per-document results, one JSON file per content key."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / "results" / key[:2] / f"{key}.json"

    def get(self, key: str) -> TaskResult | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return TaskResult.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError):
            return None  # a damaged entry is recomputed

    def put(self, key: str, result: TaskResult) -> None:
        write_json_atomic(self._path(key), result.to_json())

    def doc_count(self, key: str) -> int | None:
        path = self.folder / "docs" / f"{key}.json"
        try:
            return int(json.loads(path.read_text(encoding="utf-8"))["documents"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put_doc_count(self, key: str, n: int) -> None:
        write_json_atomic(self.folder / "docs" / f"{key}.json", {"documents": n})


def task_manager(staged: Path) -> Any:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(staged), include_defaults=False)


def count_documents(manager: Any, names: list[str], sources: dict[str, Path]) -> dict[str, int]:
    """How many evaluation documents each task has (building its dataset, offline)."""
    out: dict[str, int] = {}
    for name in names:
        try:
            loaded = manager.load([name])["tasks"]
            task = next(iter(loaded.values()))
            out[name] = len(task.eval_docs)
        except Exception as exc:  # lm-eval or datasets refusing the task's data
            raise InputError(f"{sources[name]}: task {name}: lm-eval could not load its documents: {first_line(exc)}") from None
    return out


def shared_trunk_lm(model: Any, store: TrunkStore | None, **kwargs: Any) -> Any:
    """lm-eval's HF model class (HFLM) on the PEFT model, scoring loglikelihood requests with
    the same results (the log-likelihood of each continuation given its context, and whether it
    is the greedy one) and far less arithmetic:

    * One pass per context, not per choice. Requests that share a context (a multiple-choice
      question's 2-4 choices) are packed into one row: the context once, then each
      continuation's tokens, each attending to the context and to itself only (a block mask),
      with the positions it would have alone. Every position sees exactly the tokens it sees in
      lm-eval's one-request-per-row pass, so the scores are the same (up to the rounding of a
      different kernel), and a question with a 100-token passage and four one-word answers costs
      about 100 tokens instead of 400.
    * Only the positions that predict a continuation's tokens go through the final norm and the
      LM head (lm-eval projects every position onto the whole vocabulary), in float32, and so is
      their log-softmax (lm-eval's default is the logits' dtype, bfloat16 on most CPUs here).
    * The candidate starts from the base: the base's hidden states entering the adapter's lowest
      layer are kept, batch by batch (in `store`, content-addressed, so a later run's candidate
      finds them too; in memory for this run without one), and the candidate's pass over the
      same batch runs only the adapted layers. Below that layer base and candidate compute the
      same numbers for the same tokens, and both sides form the same batches (sorted by
      content). A batch is matched by its exact tokens and positions; one whose states are not
      kept runs in full.

    Truncation is lm-eval's: a request longer than max_length keeps its last max_length tokens
    (so its context is what is left of it)."""
    import torch
    import torch.nn.functional as F
    from lm_eval.models.huggingface import HFLM

    from evalgate.trunk import (
        adapter_floor,
        capture_input,
        decoder_layers,
        skip_lower_layers,
        warn_unshared,
    )
    from evalgate.ui import progress, show_bars

    head = model.get_output_embeddings()
    head_weight: dict[str, Any] = {}

    @contextlib.contextmanager
    def float32_head() -> Iterator[None]:
        """The LM head in float32 on the few positions it projects: bf16 logits (8 bits of
        mantissa, about 0.06 at a logit of 20) would put that rounding into every score."""
        if head is None or not isinstance(head, torch.nn.Linear) or head.weight.dtype == torch.float32:
            yield
            return
        if "w" not in head_weight:
            head_weight["w"] = head.weight.detach().float()
            head_weight["b"] = head.bias.detach().float() if head.bias is not None else None
        head.forward = lambda x: F.linear(x.float(), head_weight["w"], head_weight["b"])  # type: ignore[method-assign]
        try:
            yield
        finally:
            del head.forward

    def forward(lm: Any, ids: Any, positions: Any, mask: Any, keep: Any) -> Any:
        """Logits at positions `keep` (of every row), with the trunk shared between the sides."""

        def call() -> Any:
            with float32_head():
                return lm.model(input_ids=ids, position_ids=positions, attention_mask=mask, logits_to_keep=keep, use_cache=False).logits

        if not trunk.floor or trunk.mode is None:
            return call()
        if trunk.mode == "base":
            captured: dict[str, Any] = {}
            with capture_input(trunk.layers[trunk.floor], captured):
                logits = call()
            trunk.save((ids, positions), captured["hidden"])
            return logits
        hidden = trunk.load((ids, positions))
        if hidden is None:
            trunk.full += 1
            return call()
        trunk.shared += 1
        with skip_lower_layers(trunk.layers, trunk.floor, hidden.to(lm.device)):
            return call()

    def pack(lm: Any, rows: list[tuple[tuple[int, ...], list[tuple[int, ...]]]]) -> tuple[Any, Any, Any, list[list[list[int]]]]:
        """Token ids, positions and a block mask for rows of (context, continuations); per row
        and continuation, the positions whose logits predict its tokens."""
        widths = [len(ctx) + sum(len(c) - 1 for c in conts) for ctx, conts in rows]
        width = max(widths)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        pos = torch.zeros((len(rows), width), dtype=torch.long)
        allowed = torch.zeros((len(rows), width, width), dtype=torch.bool)
        reads: list[list[list[int]]] = []
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        for r, (ctx, conts) in enumerate(rows):
            n = len(ctx)
            ids[r, :n] = torch.tensor(ctx)
            pos[r, :n] = torch.arange(n)
            allowed[r, :n, :n] = causal[:n, :n]
            at = n
            row_reads = []
            for cont in conts:
                seg = len(cont) - 1  # the last token is predicted, never read
                ids[r, at : at + seg] = torch.tensor(cont[:-1], dtype=torch.long)
                pos[r, at : at + seg] = torch.arange(n, n + seg)
                allowed[r, at : at + seg, :n] = True
                allowed[r, at : at + seg, at : at + seg] = causal[:seg, :seg]
                row_reads.append([n - 1, *range(at, at + seg)])
                at += seg
            for q in range(at, width):  # padding attends to itself only
                allowed[r, q, q] = True
            reads.append(row_reads)
        # An additive mask in the model's dtype: what every attention implementation takes. A
        # prepared mask is used as given, so a sliding attention window (Gemma 2 and 3, Mistral)
        # is applied here, by position as the model applies it to an unpacked row; where only
        # some layers slide, the model takes one mask per layer type.
        dtype = lm.model.dtype

        def additive(allow: Any) -> Any:
            mask = torch.zeros(allow.shape, dtype=dtype).masked_fill_(~allow, torch.finfo(dtype).min)
            return mask[:, None].to(lm.device)

        mask: Any = additive(allowed)
        if window is not None:
            near = additive(allowed & (pos[:, :, None] - pos[:, None, :] < window))
            every_layer_slides = set(layer_types or ["sliding_attention"]) == {"sliding_attention"}
            mask = near if every_layer_slides else {"full_attention": mask, "sliding_attention": near}
        return ids.to(lm.device), pos.to(lm.device), mask, reads

    class SharedTrunkLM(HFLM):  # type: ignore[misc]
        # lm-eval's own bars (tokenising, generating) follow evalgate's: off in logs.
        def loglikelihood(self, requests: Any, disable_tqdm: bool = False) -> Any:
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm or not show_bars())

        def loglikelihood_rolling(self, requests: Any, disable_tqdm: bool = False) -> Any:
            return super().loglikelihood_rolling(requests, disable_tqdm=disable_tqdm or not show_bars())

        def generate_until(self, requests: Any, disable_tqdm: bool = False) -> Any:
            return super().generate_until(requests, disable_tqdm=disable_tqdm or not show_bars())

        def _loglikelihood_tokens(self, requests: Any, disable_tqdm: bool = False, override_bs: int | None = None) -> Any:
            # A sliding window on an architecture outside VERIFIED: its masks are not known, lm-eval's own pass.
            if self.backend != "causal" or self.batch_size == "auto" or (window is not None and layers is None):
                return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
            keyed = []
            groups: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
            for _, context_enc, continuation_enc in requests:
                full = (context_enc + continuation_enc)[-(self.max_length + 1) :]  # as lm-eval truncates
                ctx, cont = tuple(full[: len(full) - len(continuation_enc)]), tuple(continuation_enc)
                keyed.append((ctx, cont))
                conts = groups.setdefault(ctx, [])
                if cont not in conts:
                    conts.append(cont)
            rows: list[tuple[tuple[int, ...], list[tuple[int, ...]]]] = []
            for ctx, conts in groups.items():
                part: list[tuple[int, ...]] = []
                for cont in conts:
                    if part and len(ctx) + sum(len(c) - 1 for c in part) + len(cont) - 1 > self.max_length:
                        rows.append((ctx, part))
                        part = []
                    part.append(cont)
                rows.append((ctx, part))
            # Longest first, ties by content: the same batches for both sides and every run.
            rows.sort(key=lambda r: (-(len(r[0]) + sum(len(c) - 1 for c in r[1])), r[0], r[1]))
            size = override_bs if override_bs is not None else int(self.batch_size)
            scores: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[float, bool]] = {}
            with progress(f"forgetting: {trunk.mode or 'model'}: {len(requests)} requests in {len(rows)} packed rows", total=len(rows)) as advance:
                for start in range(0, len(rows), size):
                    batch = rows[start : start + size]
                    ids, positions, mask, reads = pack(self, batch)
                    keep = sorted({p for row in reads for cont in row for p in cont})
                    at = {p: k for k, p in enumerate(keep)}
                    with torch.no_grad():
                        logits = forward(self, ids, positions, mask, torch.tensor(keep, dtype=torch.long, device=self.device))
                        logprobs = F.log_softmax(logits.float(), dim=-1)
                    for r, (ctx, conts) in enumerate(batch):
                        for cont, where in zip(conts, reads[r], strict=True):
                            lp = logprobs[r, [at[p] for p in where]]  # [len(cont), vocab]
                            target = torch.tensor(cont, dtype=torch.long, device=lp.device)
                            score = float(lp.gather(1, target[:, None]).sum())
                            scores[(ctx, cont)] = (score, bool((lp.argmax(dim=-1) == target).all()))
                    advance(len(batch))
            res = [scores[k] for k in keyed]
            for (req_str, _, _), answer in zip(requests, res, strict=True):
                if req_str is not None:
                    self.cache_hook.add_partial("loglikelihood", req_str, answer)
            return res

    text_config = model.config.get_text_config(decoder=True)
    layer_types = getattr(text_config, "layer_types", None)
    window = getattr(text_config, "sliding_window", None)
    if layer_types is not None and "sliding_attention" not in layer_types:
        window = None
    layers = decoder_layers(model)
    warn_unshared(model, "forgetting")
    trunk = SharedTrunk(adapter_floor(model) if layers is not None else 0, layers, store)
    lm = SharedTrunkLM(pretrained=model, **kwargs)
    lm.trunk = trunk
    return lm


class SharedTrunk:
    """What `shared_trunk_lm` keeps of the base's pass for the candidate's: per batch (its token
    ids and positions), the hidden states entering layer `floor`."""

    MEMORY_BYTES = 4 * 2**30
    """Without a store: at most this much kept in memory, for this run's candidate."""

    def __init__(self, floor: int, layers: Any, store: TrunkStore | None):
        self.floor = floor
        self.layers = layers
        self.store = store
        self.mode: str | None = None
        self.memory: dict[str, Any] = {}
        self.bytes = 0
        self.shared = 0
        self.full = 0

    def _key(self, batch: tuple[Any, ...]) -> str:
        ids = [v for t in batch for v in (*t.shape, *t.flatten().tolist())]
        if self.store is not None:
            return self.store.key(ids, self.floor, parts="lm-eval-batch")
        return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()

    def save(self, batch: tuple[Any, ...], hidden: Any) -> None:
        key = self._key(batch)
        if self.store is not None:
            self.store.put(key, TrunkStates(hidden.detach().cpu().contiguous()))
            return
        size = hidden.numel() * hidden.element_size()
        if self.bytes + size <= self.MEMORY_BYTES:
            self.memory[key] = hidden.detach()
            self.bytes += size

    def load(self, batch: tuple[Any, ...]) -> Any:
        key = self._key(batch)
        if self.store is None:
            hidden = self.memory.pop(key, None)
            if hidden is not None:
                self.bytes -= hidden.numel() * hidden.element_size()
            return hidden
        if not self.store.has(key):
            return None
        found = self.store.get(key)
        if found is None or tuple(found.hidden.shape[:2]) != tuple(batch[0].shape):
            return None
        return found.hidden


@contextlib.contextmanager
def side(model: Any, adapter: bool, lm: Any = None) -> Iterator[None]:
    """The candidate (adapter on) or the base (the same object, adapter disabled). With `lm` from
    `shared_trunk_lm`, the base's pass keeps its lower states and the candidate's reads them."""
    trunk = getattr(lm, "trunk", None)
    if trunk is not None:
        trunk.mode = "candidate" if adapter else "base"
    try:
        if adapter:
            yield
        else:
            with model.disable_adapter():
                yield
    finally:
        if trunk is not None:
            trunk.mode = None


def evaluate(lm: Any, manager: Any, samples: dict[str, list[int]]) -> dict[str, TaskResult]:
    """lm-eval's simple_evaluate on these tasks' documents; per-document results from its logged samples."""
    import lm_eval

    out = lm_eval.simple_evaluate(
        model=lm,
        tasks=sorted(samples),
        task_manager=manager,
        samples=samples,
        log_samples=True,
        cache_requests=False,
        use_cache=None,
        bootstrap_iters=0,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
    )
    if out is None:
        raise RuntimeError("lm-eval returned no results")
    results: dict[str, TaskResult] = {}
    for name in samples:
        results[name] = task_result(
            name,
            out["samples"][name],
            out["configs"][name],
            out.get("higher_is_better", {}).get(name, {}),
            out["results"].get(name, {}),
        )
    return results
