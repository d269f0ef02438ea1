"""The pipeline's stages, in order. Each reads the artifacts of the stages before it through the
stage contract (evalgate.contract) and writes its own through it; the libraries they use
(data/, training/, generate/, judging/, scorers/, checks and policy, stats, report/) sit beside this
package.

    prepare -> train -> evaluate -> judge -> forgetting -> gate -> report     (then `verdict` fails a failed gate)
    promote, export: run by hand on a passing run
"""

PIPELINE = ("prepare", "train", "evaluate", "judge", "forgetting", "gate", "report")
"""The DVC stages in dvc.yaml's order (`verdict` closes the pipeline on the recorded gate)."""
