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
    """lm-eval's HF model class (HFLM) on the PEFT model, scoring a batch of loglikelihood
    requests with two changes that leave every score what the full computation gives:

    * Only the positions lm-eval reads go through the final norm and the LM head: for each
      request the ones predicting its continuation's tokens (lm-eval projects every position of
      the batch onto the whole vocabulary and keeps the continuation's). Their log-softmax is
      taken in float32 (lm-eval's default is the logits' dtype: bfloat16 on most CPUs here).
    * The base's hidden states entering the adapter's lowest layer are kept, batch by batch (in
      `store`, content-addressed, so a later run's candidate finds them too; in memory for this
      run without one), and the candidate's pass over the same batch starts there instead of
      running the layers below again. Below that layer base and candidate compute the same
      numbers for the same tokens, and lm-eval forms the same batches for both sides (it sorts
      requests by content). A batch is matched by its exact token ids; one whose states are not
      kept runs in full.

    Request order, batching, truncation, the one-token-continuation cache and the (logprob,
    is_greedy) results are lm-eval's own (its `Collator`, as `HFLM._loglikelihood_tokens`)."""
    import torch
    import torch.nn.functional as F
    from lm_eval.models.huggingface import HFLM
    from lm_eval.models.utils import Collator
    from lm_eval.models.utils_hf import pad_and_concat

    from evalgate.trunk import adapter_floor, capture_input, decoder_layers, skip_lower_layers
    from evalgate.ui import progress

    def forward(lm: Any, inps: Any, keep: Any) -> Any:
        """Logits at positions `keep` (of every row), with the trunk shared between the sides."""
        call = lambda: lm.model(inps, logits_to_keep=keep).logits  # noqa: E731
        if not trunk.floor or trunk.mode is None:
            return call()
        if trunk.mode == "base":
            captured: dict[str, Any] = {}
            with capture_input(trunk.layers[trunk.floor], captured):
                logits = call()
            trunk.save(inps, captured["hidden"])
            return logits
        hidden = trunk.load(inps)
        if hidden is None:
            trunk.full += 1
            return call()
        trunk.shared += 1
        with skip_lower_layers(trunk.layers, trunk.floor, hidden.to(lm.device)):
            return call()

    def score_chunk(lm: Any, re_ord: Any, chunk: Any, res: list[tuple[float, bool]]) -> None:
        """One batch of requests: only the continuation positions projected and read."""
        inps, spans = [], []
        for _, context_enc, continuation_enc in chunk:
            # As lm-eval: truncated from the left to max_length, the last token dropped.
            inp = torch.tensor((context_enc + continuation_enc)[-(lm.max_length + 1) :][:-1], dtype=torch.long, device=lm.device)
            inps.append(inp)
            spans.append((len(inp) - len(continuation_enc), len(inp)))
        batched = pad_and_concat(max(len(x) for x in inps), inps, padding_side="right")
        keep = sorted({pos for lo, hi in spans for pos in range(lo, hi)})
        at = {pos: k for k, pos in enumerate(keep)}
        with torch.no_grad():
            logits = forward(lm, batched, torch.tensor(keep, dtype=torch.long, device=lm.device))
            logprobs = F.log_softmax(logits.float(), dim=-1)
        for row, ((request_str, ctx_tokens, cont), (lo, hi)) in enumerate(zip(chunk, spans, strict=True)):
            picked = logprobs[row, [at[p] for p in range(lo, hi)]].unsqueeze(0)  # [1, contlen, vocab]
            greedy = picked.argmax(dim=-1)
            for req_str, cont_toks, lp in re_ord.get_cache(req_str=request_str, cxt_toks=ctx_tokens, cont_toks=cont, logits=picked):
                ids = torch.tensor(cont_toks, dtype=torch.long, device=lm.device).unsqueeze(0)
                n = ids.shape[1]
                score = float(torch.gather(lp[:, -n:], 2, ids.unsqueeze(-1)).sum())
                is_greedy = bool((greedy[:, -n:] == ids).all())
                res.append((score, is_greedy))
                if req_str is not None:
                    lm.cache_hook.add_partial("loglikelihood", req_str, (score, is_greedy))

    class SharedTrunkLM(HFLM):  # type: ignore[misc]
        def _loglikelihood_tokens(self, requests: Any, disable_tqdm: bool = False, override_bs: int | None = None) -> Any:
            if self.backend != "causal" or self.batch_size == "auto":
                return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
            re_ord = Collator(
                requests,
                sort_fn=lambda req: (-len(req[1] + req[2]), tuple(req[1] + req[2])),
                group_by="contexts" if self.logits_cache else None,
                group_fn=lambda req: req[-2] + req[-1][:-1],
            )
            res: list[tuple[float, bool]] = []
            size = override_bs if override_bs is not None else self.batch_size
            with progress(f"forgetting: {trunk.mode or 'model'}: loglikelihood", total=len(requests)) as advance:
                for chunk in re_ord.get_batched(n=size, batch_fn=None):
                    score_chunk(self, re_ord, chunk, res)
                    advance(len(chunk))
            return re_ord.get_original(res)

    layers = decoder_layers(model)
    trunk = SharedTrunk(adapter_floor(model) if layers is not None else 0, layers, store)
    lm = SharedTrunkLM(pretrained=model, **kwargs)
    lm.trunk = trunk
    return lm


class SharedTrunk:
    """What `shared_trunk_lm` keeps of the base's pass for the candidate's: per batch (its token
    ids), the hidden states entering layer `floor`."""

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

    def _key(self, inps: Any) -> str:
        ids = [*inps.shape, *inps.flatten().tolist()]
        if self.store is not None:
            return self.store.key(ids, self.floor, parts="lm-eval-batch")
        return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()

    def save(self, inps: Any, hidden: Any) -> None:
        key = self._key(inps)
        if self.store is not None:
            self.store.put(key, TrunkStates(hidden.detach().cpu().contiguous()))
            return
        size = hidden.numel() * hidden.element_size()
        if self.bytes + size <= self.MEMORY_BYTES:
            self.memory[key] = hidden.detach()
            self.bytes += size

    def load(self, inps: Any) -> Any:
        key = self._key(inps)
        if self.store is None:
            hidden = self.memory.pop(key, None)
            if hidden is not None:
                self.bytes -= hidden.numel() * hidden.element_size()
            return hidden
        if not self.store.has(key):
            return None
        found = self.store.get(key)
        if found is None or tuple(found.hidden.shape[:2]) != tuple(inps.shape):
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
