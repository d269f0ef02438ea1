"""Which gate policy decides, and what a pull request changed in it.

A pull request must not be judged by the policy it brings: on a pull request the gate decides
under the base branch's `gate:` section (read from git at the base commit, `--policy-ref`), and
evaluates the pull request's own policy beside it. Every difference between the two is listed,
weakened ones first, so a reviewer sees a threshold lowered or a margin widened next to the
verdict it did not change. The new policy governs once it is merged (then it is the base's).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from evalgate.config import GateCheck, GateParams
from evalgate.errors import ConfigError, InputError

WEAKENED, TIGHTENED, CHANGED = "weakened", "tightened", "changed"
_ORDER = {WEAKENED: 0, CHANGED: 1, TIGHTENED: 2}

# Top-level numeric settings where a larger value is stricter (+1); for the settings with a
# stricter choice (fail over warn, holm over none), that choice. Any other setting that moves is
# reported as changed, neither weakened nor tightened.
_NUMERIC = {
    "confidence": +1,  # wider intervals: a bound is harder to clear
    "power": +1,  # a larger minimum detectable effect: more checks found uninformative
    "judge_min_agreement": +1,
    "judge_min_calibration_coverage": +1,
    "judge_min_calibration_answers": +1,
    "judge_min_order_consistency": +1,
}
_STRICTER = {"uninformative": "fail", "underpowered": "fail", "correction": "holm"}
_IGNORED = {"output", "checks"}  # where the verdict is written; checks are compared one by one


@dataclass(frozen=True)
class Change:
    kind: str  # weakened | tightened | changed
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}


def base_policy(ref: str, params_path: Path, root: Path = Path(".")) -> GateParams | None:
    """The `gate:` section of `params_path` as it is at git `ref`, validated; None when the base
    has no such file or no gate section (the pull request introduces the gate). Anything else
    that stops it being read fails closed (exit 2)."""
    rel = _repo_path(params_path, root)
    show = _git(root, "show", f"{ref}:{rel}")
    if show.returncode != 0:
        exists = _git(root, "cat-file", "-e", f"{ref}^{{commit}}")
        if exists.returncode != 0:
            raise InputError(
                f"gate: --policy-ref {ref}: no such commit in this clone ({exists.stderr.strip() or 'git failed'}); "
                "fetch the base branch (actions/checkout with fetch-depth: 0) so the gate can decide under its policy"
            )
        return None  # the base commit has no params file: this pull request introduces it
    try:
        data = yaml.safe_load(show.stdout)
    except yaml.YAMLError as exc:
        raise InputError(f"gate: {ref}:{rel} is not valid YAML ({exc}); the base branch's policy cannot be read") from None
    section = data.get("gate") if isinstance(data, dict) else None
    if section is None:
        return None
    try:
        return GateParams.model_validate(section)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"gate: {ref}:{rel}: gate.{where}: {first['msg']}; the base branch's policy does not load with this "
            "version of evalgate, so this pull request cannot be gated under it (update the base branch first)"
        ) from None


def _repo_path(path: Path, root: Path) -> str:
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise InputError(f"gate: --policy-ref needs a git checkout ({top.stderr.strip() or 'git failed'})")
    return Path(path).resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise InputError(f"gate: --policy-ref needs git: {exc}") from None


def _higher(check: GateCheck, directions: dict[tuple[str, str], bool]) -> bool | None:
    return directions.get((check.task, check.metric))


def _check_strength(check: GateCheck, higher: bool | None) -> float | None:
    """A number that grows as the check gets stricter, or None when that is unknown."""
    from evalgate.checks import CHECKS

    spec = CHECKS.get(check.kind)
    if spec is None:
        return None
    if spec.needs == "margin" and check.margin is not None:
        return -check.margin if spec.bound_sign < 0 else check.margin
    if spec.needs == "threshold" and check.threshold is not None:
        if check.kind == "min_coverage":
            return check.threshold
        if higher is None:
            return None
        return check.threshold if higher else -check.threshold
    return None


def diff(base: GateParams, new: GateParams, directions: dict[tuple[str, str], bool]) -> list[Change]:
    """Every difference between two policies, weakened ones first. `directions`: whether higher
    is better, per (task, metric), for the direction of a moved floor."""
    out: list[Change] = []
    b, n = base.model_dump(mode="json"), new.model_dump(mode="json")
    for field in sorted(set(b) | set(n)):
        if field in _IGNORED or b.get(field) == n.get(field):
            continue
        old, now = b.get(field), n.get(field)
        what = f"gate.{field}: {old} → {now}"
        if field in _NUMERIC and isinstance(old, int | float) and isinstance(now, int | float):
            out.append(Change(TIGHTENED if (now - old) * _NUMERIC[field] > 0 else WEAKENED, what))
        elif field in _STRICTER:
            out.append(Change(TIGHTENED if now == _STRICTER[field] else WEAKENED, what))
        elif field == "promoted":
            out.append(Change(WEAKENED, what + " (another promoted baseline to compare with)"))
        else:
            out.append(Change(CHANGED, what))
    out += _check_changes(base.checks, new.checks, directions)
    return sorted(out, key=lambda c: _ORDER[c.kind])


def _key(check: GateCheck) -> tuple[str, str, str]:
    return (check.source, f"{check.task}/{check.metric}", check.kind)


def _check_changes(base: list[GateCheck], new: list[GateCheck], directions: dict[tuple[str, str], bool]) -> list[Change]:
    out: list[Change] = []
    left = {}
    for c in base:
        left.setdefault(_key(c), []).append(c)
    for c in new:
        same = left.get(_key(c)) or []
        if not same:
            out.append(Change(TIGHTENED, f"check added: {c.label}{_bound(c)}"))
            continue
        old = same.pop(0)
        if old.model_dump() == c.model_dump():
            continue
        sb, sn = _check_strength(old, _higher(old, directions)), _check_strength(c, _higher(c, directions))
        moved = [f"{f} {getattr(old, f)} → {getattr(c, f)}" for f in ("threshold", "margin", "decide_on", "name") if getattr(old, f) != getattr(c, f)]
        text = f"check {old.label}: {', '.join(moved)}"
        if old.decide_on != c.decide_on:
            kind = WEAKENED if c.decide_on == "point" else TIGHTENED
        elif sb is not None and sn is not None and sb != sn:
            kind = TIGHTENED if sn > sb else WEAKENED
        else:
            kind = CHANGED
        out.append(Change(kind, text))
    for rest in left.values():
        for c in rest:
            out.append(Change(WEAKENED, f"check removed: {c.label}{_bound(c)}"))
    return out


def _bound(check: GateCheck) -> str:
    if check.threshold is not None:
        return f" (threshold {check.threshold:g})"
    if check.margin is not None:
        return f" (margin {check.margin:g})"
    return ""


def summary(changes: list[Change]) -> str:
    counts = {k: sum(c.kind == k for c in changes) for k in (WEAKENED, TIGHTENED, CHANGED)}
    return ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no change"


def policy_record(ref: str, changes: list[Change], new_report: dict[str, Any] | None, introduced: bool) -> dict[str, Any]:
    """What gate.json records about the policy source."""
    return {
        "decided_under": "pull request (the base branch has no gate policy yet)" if introduced else f"base {ref}",
        "base_ref": ref,
        "introduced": introduced,
        "changes": [c.as_dict() for c in changes],
        "under_new_policy": new_report,
    }
