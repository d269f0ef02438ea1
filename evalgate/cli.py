"""The `evalgate` command. Heavy imports stay inside commands so `--help` is instant."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from evalgate import __version__
from evalgate.errors import EXIT_INTERNAL, ConfigError, EvalgateError, ValidationFailed
from evalgate.ui import styled

if TYPE_CHECKING:
    from rich.text import Text

app = typer.Typer(
    name="evalgate",
    help="Evaluation-first CI gate and regression harness for fine-tuned LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: no boxes, no `<bool>` metavars
)
F = TypeVar("F", bound=Callable[..., Any])

ParamsOption = Annotated[
    Path, typer.Option("--params", "-p", help="The params file (DVC's params.yaml).", dir_okay=False)
]


def user_errors(fn: F) -> F:
    """Turn user errors into one clean line each and their exit code; bugs keep tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from evalgate.ui import console

        try:
            return fn(*args, **kwargs)
        except ValidationFailed as exc:
            for line in exc.problems:
                console.print(line, markup=False, highlight=False)
            console.print(styled(("error:", "red"), f" {exc}"))
            raise typer.Exit(exc.exit_code) from None
        except EvalgateError as exc:
            for line in str(exc).splitlines():
                console.print(styled(("error:", "red"), f" {line}"), highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _load(params: Path) -> Any:
    """The validated params file (config import kept out of `--help`)."""
    from evalgate.config import load_params

    return load_params(params)


def _run(params: Path, run: Callable[[Any], Any], done: Callable[[Any], str | Text]) -> None:
    """Run a stage on the params file and print `done(result)` (nothing for an empty result)."""
    from evalgate.ui import console

    result = run(_load(params))
    if result:
        console.print(done(result), highlight=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"evalgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Evaluation-first CI gate and regression harness for fine-tuned LLMs."""


@app.command()
@user_errors
def prepare(
    params: ParamsOption = Path("params.yaml"),
    metrics: Annotated[Path, typer.Option(help="Where to write the DVC metrics of this stage.")] = Path(
        "metrics/prepare.json"
    ),
) -> None:
    """Validate, normalise, de-duplicate and split the training data; write a hashed manifest."""
    from evalgate.config import load_params
    from evalgate.contract import SCHEMA_VERSION, PrepareMetrics, write_artifact
    from evalgate.stages.prepare import run_prepare
    from evalgate.ui import console

    cfg = load_params(params)
    result = run_prepare(cfg)
    m = result.manifest
    counts = result.report["counts"]
    write_artifact(metrics, PrepareMetrics, {"schema_version": SCHEMA_VERSION, "dataset_sha256": m["dataset_sha256"], "prepare": counts})
    for problem in result.problems:
        console.print(f"skipped {problem}", markup=False)
    console.print(
        styled(
            ("prepared", "green"),
            f" {counts['train']:,} train + {counts['val']:,} val records "
            f"({counts['invalid']} invalid, {counts['exact_duplicates']} exact and {counts['near_duplicates']} near "
            f"duplicates, {counts['contradictions']} contradictions, {counts['leakage']} leaked) -> "
            f"{result.output_dir}/  dataset sha256 {m['dataset_sha256'][:12]}",
        )
    )


@app.command()
@user_errors
def train(params: ParamsOption = Path("params.yaml")) -> None:
    """Train a LoRA adapter (QLoRA by default) on the prepared data."""
    from evalgate.stages.train import run_train

    def done(meta: dict[str, Any]) -> Text:
        m = meta["metrics"]
        val = f", val loss {m['val_loss']:.4f}" if m["val_loss"] is not None else ""
        return styled(
            ("trained", "green"),
            f" {m['steps']} steps in {m['wall_seconds']:.0f} s "
            f"({m['tokens_per_second']:,.0f} tokens/s), train loss {m['train_loss']:.4f}{val} -> "
            f"{meta['adapter_dir']}/  adapter sha256 {meta['adapter_sha256'][:12]}",
        )

    _run(params, run_train, done)  # prints nothing on a non-zero rank under `accelerate launch`


@app.command()
@user_errors
def export(params: ParamsOption = Path("params.yaml")) -> None:
    """Merge the adapter into a full-precision base and write a servable safetensors model."""
    from evalgate.stages.export import run_export

    _run(
        params,
        run_export,
        lambda meta: styled(
            ("exported", "green"),
            f" {meta['output_dir']}/ ({meta['dtype']}, adapter {meta['adapter_sha256'][:12]}); "
            "serve it with vLLM or TGI like any Hugging Face model directory",
        ),
    )


@app.command()
@user_errors
def evaluate(params: ParamsOption = Path("params.yaml")) -> None:
    """Answer every golden item with the base model and the candidate, and score both."""
    from evalgate.config import load_params
    from evalgate.stages.evaluate import run_evaluate, warn_truncation
    from evalgate.ui import print_eval_table

    cfg = load_params(params)
    metrics = run_evaluate(cfg)
    print_eval_table(metrics, cfg.evaluate.metrics)
    warn_truncation(metrics.get("generation", {}), cfg.evaluate.warn_truncated_share)


@app.command()
@user_errors
def forgetting(params: ParamsOption = Path("params.yaml")) -> None:
    """General-capability tasks (lm-eval, tasks/forgetting/) for base and candidate on the same
    documents: what the adapter made the model forget."""
    from evalgate.config import load_params
    from evalgate.contract import PATHS
    from evalgate.stages.forgetting import run_forgetting
    from evalgate.ui import print_forgetting_table

    metrics = run_forgetting(load_params(params))
    print_forgetting_table(metrics, PATHS["forgetting.metrics"])


judge_app = typer.Typer(
    help="Grade base and candidate answers with rubric-driven judges (the judge stage).",
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(judge_app, name="judge")


@judge_app.callback()
@user_errors
def judge(ctx: typer.Context, params: ParamsOption = Path("params.yaml")) -> None:
    """Grade base and candidate answers with the configured judge (the judge stage); `calibrate`
    reports the judge's agreement with people's grades."""
    if ctx.invoked_subcommand is not None:
        return
    from evalgate.config import load_params
    from evalgate.contract import PATHS
    from evalgate.stages.judge import run_judge
    from evalgate.ui import print_judge_table

    metrics = run_judge(load_params(params))
    print_judge_table(metrics, PATHS["judge.metrics"])


@judge_app.command("calibrate")
@user_errors
def judge_calibrate(params: ParamsOption = Path("params.yaml")) -> None:
    """Agreement of the configured judge with people on the calibration set: Spearman,
    quadratic-weighted kappa (95% CI), exact and within-one agreement, per task and criterion."""
    from evalgate.config import load_params
    from evalgate.judging.trust import trust_failures
    from evalgate.stages.judge import run_calibrate
    from evalgate.ui import print_agreement

    cfg = load_params(params)
    result = run_calibrate(cfg)
    verdicts = None
    if cfg.gate is not None:
        verdicts = {task: [f.text for f in trust_failures(a, cfg.gate)] for task, a in result.get("tasks", {}).items()}
    print_agreement(result, verdicts)


@app.command()
@user_errors
def gate(
    params: ParamsOption = Path("params.yaml"),
    no_fail: Annotated[
        bool,
        typer.Option(
            "--no-fail",
            help="Record the verdict and exit 0 even when the gate fails (the pipeline's `verdict` stage fails it "
            "later, after the report is written). Bad input still exits 2.",
        ),
    ] = False,
    policy_ref: Annotated[
        str,
        typer.Option(
            "--policy-ref",
            envvar="EVALGATE_POLICY_REF",
            help="A git commit (a pull request's base): decide under the `gate:` policy of params.yaml as it is "
            "there, evaluate this checkout's policy beside it and list every change (empty: this checkout's).",
        ),
    ] = "",
) -> None:
    """Decide pass or fail from paired statistics and the gate policy (exit 0 pass, 1 fail)."""
    from evalgate.config import load_params
    from evalgate.errors import EXIT_GATE_FAILED
    from evalgate.stages.gate import run_gate
    from evalgate.ui import print_gate

    cfg = load_params(params)
    report = run_gate(cfg, policy_ref=policy_ref.strip() or None, params_path=params)
    print_gate(report, cfg.gate.output if cfg.gate else "")
    if report["verdict"] != "pass" and not no_fail:
        raise typer.Exit(EXIT_GATE_FAILED)


@app.command()
@user_errors
def verdict(params: ParamsOption = Path("params.yaml")) -> None:
    """Exit with the recorded gate verdict: 0 pass, 1 fail, 2 missing, unreadable or stale."""
    from evalgate.config import load_params
    from evalgate.errors import EXIT_GATE_FAILED
    from evalgate.stages.gate import read_verdict
    from evalgate.ui import print_gate

    cfg = load_params(params)
    report = read_verdict(cfg)
    print_gate(report, cfg.gate.output if cfg.gate else "")
    if report["verdict"] != "pass":
        raise typer.Exit(EXIT_GATE_FAILED)


@app.command()
@user_errors
def report(params: ParamsOption = Path("params.yaml")) -> None:
    """Write the HTML regression report, the Markdown summary, DVC metrics and plots (also on a failed gate)."""
    from evalgate.config import load_params
    from evalgate.stages.report import run_report
    from evalgate.ui import console

    result = run_report(load_params(params))
    badge = (f"gate {result.verdict.upper()}", {"pass": "green", "fail": "red"}.get(result.verdict, "yellow"))
    console.print(
        styled(
            ("up to date", "green") if result.up_to_date else ("reported", "green"),
            " (nothing it reads changed)" if result.up_to_date else "",
            f" {result.html} ({result.html_bytes / 1e6:.2f} MB), {result.summary}, {result.metrics}, {result.deltas_plot}; ",
            badge,
        ),
        highlight=False,
    )
    for note in result.notes:
        console.print(f"  note: {note}", markup=False, highlight=False)


@app.command()
@user_errors
def promote(params: ParamsOption = Path("params.yaml")) -> None:
    """Record the passing run as the promoted one (registry/promoted.json; MLflow when configured)."""
    from evalgate.stages.promote import run_promote

    _run(
        params,
        run_promote,
        lambda entry: styled(
            ("promoted", "green"),
            f" adapter {entry['adapter_sha256'][:12]} (data {str(entry['dataset_sha256'])[:12]}) -> {entry['registry_file']}"
            + (f"; MLflow: {entry['mlflow']}" if entry.get("mlflow") else ""),
        ),
    )


@app.command()
@user_errors
def spread(
    params: ParamsOption = Path("params.yaml"),
    seeds: Annotated[int, typer.Option(help="Retrains to run (seeds 1..N); 8 or more for margins worth shipping.")] = 8,
    work: Annotated[Path, typer.Option(help="Where the retrains' projects go (reused with --reuse).")] = Path(".evalgate/spread"),
    rate: Annotated[float, typer.Option(help="The false-block rate allowed for the whole gate on a benign retrain.")] = 0.05,
    reuse: Annotated[bool, typer.Option("--reuse", help="Keep retrains that already reached a verdict in --work.")] = False,
) -> None:
    """Retrain N times with other seeds and say which floors and margins the spread supports."""
    from evalgate.artifacts import write_json_atomic
    from evalgate.spread import measure, table
    from evalgate.ui import console

    if not 0.0 < rate < 1.0:
        raise ConfigError(f"--rate: {rate} is not a rate between 0 and 1")
    root = params.parent.resolve() if params.parent != Path("") else Path.cwd()
    result = measure(root, list(range(1, seeds + 1)), (root / work).resolve(), rate=rate, reuse=reuse)
    write_json_atomic(root / "reports" / "spread.json", result)
    for line in table(result):
        console.print(line, markup=False, highlight=False)
    console.print(f"-> reports/spread.json; the retrains are in {work}/", highlight=False)


@app.command()
@user_errors
def init(
    directory: Annotated[Path, typer.Argument(help="The repository to scaffold (created when missing).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist and differ.")] = False,
) -> None:
    """Scaffold a git repository for the gate: params, dvc.yaml, an example task, rubric and golden set, workflows."""
    from evalgate.scaffold import run_init
    from evalgate.ui import console

    result = run_init(directory, force=force)
    for cmd in result.ran:
        console.print(f"ran      {cmd}", markup=False, highlight=False)
    for rel in result.written:
        console.print(f"wrote    {rel}", markup=False, highlight=False)
    for rel in result.unchanged:
        console.print(f"same     {rel}", markup=False, highlight=False)
    for rel in result.kept:
        console.print(f"kept     {rel} (yours differs; --force overwrites it)", markup=False, highlight=False)
    if result.gitignore_added:
        console.print(f"added    {result.gitignore_added} entries to .gitignore", markup=False, highlight=False)
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    console.print(
        styled(
            ("ready", "green"),
            ": replace the example (tasks/example.yaml, golden_sets/example.jsonl, data/raw/example.jsonl) "
            f"with yours, then run: {where}make pipeline",
        ),
        highlight=False,
    )


tasks_app = typer.Typer(help="Inspect and check evaluation tasks.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(tasks_app, name="tasks")


@tasks_app.command("validate")
@user_errors
def tasks_validate(params: ParamsOption = Path("params.yaml")) -> None:
    """Check every task file: schema, template fields, scorers and their params, golden sets."""
    from evalgate.config import load_params
    from evalgate.tasks import validate_tasks
    from evalgate.ui import console

    cfg = load_params(params)
    report, problems = validate_tasks(Path(cfg.tasks_dir))
    for line in report:
        console.print(line, highlight=False)
    if problems:
        raise ConfigError("\n".join(problems))


@app.command("scorers")
def list_scorers() -> None:
    """List the registered scorers and their parameters."""
    from evalgate.scorers import available, lookup

    for name in available():
        cls = lookup(name)
        fields = ", ".join(
            f"{k}={v.get_default(call_default_factory=True)!r}" if not v.is_required() else f"{k} (required)" for k, v in cls.Params.model_fields.items()
        )
        kind = "binary" if cls.binary else "continuous"
        direction = "higher is better" if cls.higher_is_better else "lower is better"
        typer.echo(f"{name:18s} {kind}, {direction}; params: {fields or 'none'}")


@app.command("checks")
def list_checks() -> None:
    """List the registered gate check kinds: what each needs, what it compares with."""
    from evalgate.checks import CHECKS

    for name, kind in CHECKS.items():
        versus = f"candidate vs {kind.versus}" if kind.versus else "candidate alone"
        guard = "; no-worse-than (uninformative and power rules apply)" if kind.guards_regression else ""
        typer.echo(f"{name:22s} needs {kind.needs}; {versus}{guard}")
        typer.echo(f"{'':22s} {kind.description}")


@app.command("providers")
def list_providers() -> None:
    """List the registered generation providers and what each can do."""
    from evalgate.generate.registry import PROVIDERS, get_provider

    get_provider("hf")  # loads the built-ins
    for name, found in PROVIDERS.items():
        where = "in-process" if found.in_process else "remote"
        typer.echo(f"{name:18s} {where}; {', '.join(sorted(found.capabilities))}")
        typer.echo(f"{'':18s} {found.description}")


cache_app = typer.Typer(
    help="The evalgate cache directory (EVALGATE_CACHE_DIR, else ~/.cache/evalgate): sizes by kind, and pruning.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(cache_app, name="cache")


@cache_app.callback()
@user_errors
def cache_info(ctx: typer.Context) -> None:
    """Each kind of cached entry: how many, how big, the oldest and newest (ages in days or
    hours). Every entry is content-addressed: deleting one only means recomputing it."""
    if ctx.invoked_subcommand is not None:
        return
    from evalgate.caches import KINDS, age, human_bytes, others, usage
    from evalgate.config import cache_dir

    root = cache_dir()
    typer.echo(f"{root}")
    typer.echo(f"  {'kind':13s} {'entries':>8s} {'size':>9s} {'oldest':>7s} {'newest':>7s}  holds")
    total = 0
    for kind in KINDS:
        u = usage(root, kind)
        total += u.bytes
        pruned = "" if kind.by_age else " (not pruned by age)"
        typer.echo(f"  {kind.name:13s} {u.entries:8,d} {human_bytes(u.bytes):>9s} {age(u.oldest):>7s} {age(u.newest):>7s}  {kind.holds}{pruned}")
    for p in others(root):
        typer.echo(f"  other: {p.name} (not evalgate's; left alone)")
    typer.echo(f"  {'total':13s} {'':8s} {human_bytes(total):>9s}")


@cache_app.command("prune")
@user_errors
def cache_prune(
    older_than: Annotated[
        float | None, typer.Option("--older-than", help="Remove entries not used (or written) for this many days.", min=0)
    ] = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="Only this kind (repeatable); without --older-than, all of it.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Remove every kind, every entry.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; remove nothing.")] = False,
) -> None:
    """Remove cached entries by age, by kind, or all. Nothing is lost but time: the next run
    recomputes what it needs."""
    from evalgate.caches import KINDS, human_bytes, kinds_named, prune
    from evalgate.config import cache_dir
    from evalgate.errors import InputError

    if older_than is None and not kind and not everything:
        raise InputError("say what to prune: --older-than DAYS, --kind NAME (e.g. --kind states) or --all; see `evalgate cache`")
    if everything and (kind or older_than is not None):
        raise InputError("--all removes everything: leave out --kind and --older-than, or leave out --all")
    picked = kinds_named(kind) if kind else [k for k in KINDS if everything or k.by_age]
    root = cache_dir()
    verb = "would remove" if dry_run else "removed"
    entries = size = 0
    for k in picked:
        done = prune(root, k, older_than_days=older_than, dry_run=dry_run)
        entries, size = entries + done.entries, size + done.bytes
        if done.entries:
            freed = f", {human_bytes(done.bytes)}" if done.bytes or not dry_run else ""
            typer.echo(f"{k.name}: {verb} {done.entries:,d} entries{freed}")
    what = f"older than {older_than:g} days" if older_than is not None else "all"
    typer.echo(f"{root}: {verb} {entries:,d} entries ({what}){'' if dry_run else f', {human_bytes(size)} freed'}")


def main() -> None:
    from evalgate.quiet import quiet_libraries

    quiet_libraries()
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        import traceback

        from evalgate.redact import redact

        print(redact(traceback.format_exc()), end="", file=sys.stderr)
        print(
            "evalgate: internal error (a bug, not a problem with your input); please report it with the traceback above",
            file=sys.stderr,
        )
        sys.exit(EXIT_INTERNAL)
