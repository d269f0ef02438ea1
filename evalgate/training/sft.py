"""SFTTrainer with a lean loss for CPUs.

TRL's fused LM head scores only the assistant positions, but on a CPU its tiled kernel (built
for GPUs, with entropy on every position) cost ~15% of each step here. On CPU this trainer
instead gathers the hidden states at the positions whose next token is an assistant token,
projects just those through the LM head and takes the cross-entropy: the same loss, measured
equal to TRL's in a test, at a fraction of the cost. On CUDA, TRL's own loss is used.

With cached lower-layer states (`evalgate.training.trunk`), a batch carries `hidden`: the states
entering the lowest adapted layer. The layers below it are skipped and the forward pass starts
there, on any device.

The logits are the model's own (`evalgate.architectures.final_logits`: the LM head, then the
soft-capping or scaling its forward applies), so this loss is the model's loss on the answer
tokens (`model(input_ids, labels=labels).loss`) and the one TRL computes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from evalgate.architectures import VERIFIED, final_logits, matches_forward, model_type, warn_once
from evalgate.trunk import decoder_layers, skip_lower_layers

IGNORE = -100


def _backbone(model: Any) -> Any:
    """The transformer body under any PEFT wrapper (LoRA layers are injected in place)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.get_decoder() if hasattr(inner, "get_decoder") else inner.model


def assistant_loss(
    model: Any, inputs: dict[str, torch.Tensor], num_items: Any = None, floor: int = 0, full_logits: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summed-over-tokens mean cross-entropy on label positions; also (correct, count) for accuracy.

    With `floor` and `inputs["hidden"]` (the states entering layer `floor`), the layers below
    `floor` are not run. With `full_logits`, the logits are taken from the model's forward at
    every position (for an architecture whose logit processing `final_logits` does not know)."""
    labels = inputs["labels"]
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    replay = inputs.get("hidden")
    skip = (
        skip_lower_layers(decoder_layers(model), floor, replay)
        if replay is not None and floor
        else contextlib.nullcontext()
    )
    targets = labels[:, 1:]
    mask = targets != IGNORE
    with skip:
        if full_logits:
            out = inner(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), use_cache=False)
            logits = out.logits[:, :-1][mask].float()
        else:
            hidden = _backbone(model)(
                input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), use_cache=False
            ).last_hidden_state
    if not full_logits:
        logits = final_logits(inner, hidden[:, :-1][mask]).float()
    gold = targets[mask]
    soft_p = inputs.get("soft_probs")
    if soft_p is None:
        loss_sum = F.cross_entropy(logits, gold, reduction="sum")
    else:
        soft_ids = inputs["soft_ids"][:, :-1][mask].long()
        weight = inputs["soft_weight"][:, :-1][mask].float()
        loss_sum = soft_cross_entropy(logits, gold, soft_ids, soft_p[:, :-1][mask].float(), weight).sum()
    count = mask.sum()
    denom = num_items if num_items is not None else count
    loss = loss_sum / torch.as_tensor(denom, device=loss_sum.device).clamp(min=1)
    correct = (logits.detach().argmax(dim=-1) == gold).sum()
    return loss, correct, count


def soft_cross_entropy(
    logits: torch.Tensor, gold: torch.Tensor, ids: torch.Tensor, probs: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Per position: where `weight` is 0, the cross-entropy to `gold`; elsewhere `weight` times the
    cross-entropy to a target distribution given as its top tokens `ids` with `probs` plus one
    bucket for the rest of the vocabulary (mass 1 - sum(probs)), the model's probability of that
    bucket being 1 minus its probability of those tokens. Minimised exactly where the model's
    distribution, coarsened to those k + 1 outcomes, equals the target's."""
    logq = F.log_softmax(logits, dim=-1)
    hard = -logq.gather(1, gold[:, None]).squeeze(1)
    top = logq.gather(1, ids)
    rest_p = (1.0 - probs.sum(dim=-1)).clamp(min=0.0)
    rest_q = torch.log1p(-top.exp().sum(dim=-1).clamp(max=1.0 - 1e-6))
    soft = -(probs * top).sum(dim=-1) - rest_p * rest_q
    return torch.where(weight > 0, weight * soft, hard)


class EvalgateSFTTrainer(SFTTrainer):  # type: ignore[misc]
    frozen_floor = 0
    """Set when batches carry cached states: the lowest adapted layer they enter."""
    full_logits: bool | None = None
    """Whether the loss must take the forward's logits at every position; decided at the first
    batch for an architecture outside `VERIFIED` (None: not decided yet)."""

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        cached = "hidden" in inputs
        if not cached and "soft_probs" not in inputs and (self.args.device.type != "cpu" or return_outputs):
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        if self.full_logits is None:
            self.full_logits = model_type(model) not in VERIFIED and not matches_forward(model, inputs["input_ids"][:1, :16])
            if self.full_logits:
                warn_once(
                    f"logits:{model_type(model)}",
                    f"train: the {model_type(model)} architecture changes its logits after the LM head in a way evalgate "
                    "does not know; the loss takes the model's own logits at every position (same loss, slower)",
                )
        mode = "train" if model.training else "eval"
        loss, correct, count = assistant_loss(
            model, inputs, num_items_in_batch, floor=self.frozen_floor if cached else 0, full_logits=self.full_logits
        )
        n = int(count)
        self._metrics[mode]["mean_token_accuracy"].append(float(correct) / n if n else 0.0)
        # Evaluation asks for outputs too; only the loss is used (no compute_metrics).
        return (loss, {}) if return_outputs else loss
