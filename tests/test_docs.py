"""The docs site: it builds with `mkdocs build --strict` (so a broken link or anchor, a page
missing from the navigation or a configuration field without a description fails), every
section of the single-page README it replaced has a home in it, and the README stays short."""

from __future__ import annotations

import html
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = REPO / "README.md"

# Every heading of the README before the docs site (`git show <that commit>:README.md`, headings
# outside code blocks), and the docs page that now holds it under the same heading.
README_HEADINGS: list[tuple[str, str]] = [
    ("evalgate", "index.md"),
    ("Set-up: two commands", "getting-started.md"),
    ("The pipeline", "concepts/pipeline.md"),
    ("The same verdict on every machine", "concepts/reproducibility.md"),
    ("Configuration", "reference/configuration.md"),
    ("`prepare`: from raw files to a hashed training set", "stages/prepare.md"),
    ("`train`: a LoRA / QLoRA adapter from the prepared data", "stages/train.md"),
    ("`evaluate`: base and candidate on the same items", "stages/evaluate.md"),
    ("`judge`: LLM-as-judge rubrics, calibrated, cached, costed", "stages/judge.md"),
    ("`forgetting`: what the fine-tune made the model forget", "stages/forgetting.md"),
    ("`gate`: a verdict you can trust", "stages/gate.md"),
    ("`report`: what analysts and reviewers read", "stages/report.md"),
    ("CI/CD: the gate in GitHub Actions, a DVC remote, `evalgate init`", "ci-cd.md"),
    ("The workflows", "ci-cd.md"),
    ("DVC remote", "ci-cd.md"),
    ("`evalgate init` in your own repository", "bring-your-own.md"),
    ("Moving on from the CPU defaults", "bring-your-own.md"),
    ("Example domains", "bring-your-own.md"),
    ("Tests and benchmarks", "benchmarks.md"),
    ("Layout", "concepts/pipeline.md"),
]


def _mkdocs() -> str | None:
    found = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("mkdocs is not installed (the dev extra's mkdocs, mkdocs-material); under CI=true this check never skips")
    return found


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    binary = _mkdocs()
    if binary is None:
        pytest.skip("mkdocs not installed (pip install -e '.[dev]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [binary, "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True, text=True, cwd=config.parent, env=env, timeout=300,
    )


def _hooks():
    spec = importlib.util.spec_from_file_location("evalgate_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def _copy_site_sources(dest: Path) -> Path:
    shutil.copy(REPO / "mkdocs.yml", dest / "mkdocs.yml")
    shutil.copytree(DOCS, dest / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "mkdocs.yml"


def _headings(markdown: str) -> list[str]:
    """Heading texts outside code blocks, without `{#id}` attributes."""
    out, fence = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"#{1,6} (.+?)\s*(\{#[^}]*\})?\s*$", line)):
            out.append(m.group(1))
    return out


# ----------------------------------------------------------------------------- the build


def test_docs_build_strict_with_generated_references(tmp_path):
    proc = _build(REPO / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = tmp_path / "site"
    config = (site / "reference" / "configuration" / "index.html").read_text(encoding="utf-8")
    from evalgate.config import Params

    hooks = _hooks()
    for section in hooks.sections(Params):
        if section.path:
            assert f"<code>{html.escape(section.path, quote=False)}</code>" in config, section.path
        for name in section.model.model_fields:
            assert f"<code>{name}</code>" in config, f"{section.path}.{name}"
    for anchor in ("task-top", "rubric-criteria-name", "judge-calibration-rows"):
        assert f'id="{anchor}"' in config, anchor
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for command in ("evalgate prepare", "evalgate gate", "evalgate judge calibrate", "evalgate tasks validate"):
        assert f"Usage: {command} [OPTIONS]" in cli, command
    assert not (site / "hooks.py").exists()
    assert (site / "report.png").is_file()


@pytest.mark.parametrize("target,named", [("stages/no-such-page.md", "no-such-page.md"), ("stages/gate.md#no-such-section", "no-such-section")])
def test_docs_build_fails_on_a_broken_link_or_anchor(tmp_path, target, named):
    config = _copy_site_sources(tmp_path)
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + f"\n[gone]({target})\n", encoding="utf-8")
    proc = _build(config, tmp_path / "site")
    assert proc.returncode != 0
    assert named in proc.stdout + proc.stderr


def test_docs_build_fails_on_a_missing_page(tmp_path):
    config = _copy_site_sources(tmp_path)
    (tmp_path / "docs" / "stages" / "judge.md").unlink()
    proc = _build(config, tmp_path / "site")
    assert proc.returncode != 0
    assert "stages/judge.md" in proc.stdout + proc.stderr


# ------------------------------------------------------------------- undocumented fields


def test_every_params_field_has_a_description():
    from evalgate.config import Params

    assert _hooks().undocumented(Params, "params.yaml") == []


def test_generator_rejects_a_field_without_a_description():
    from evalgate.yamlconf import StrictModel

    class Inner(StrictModel):
        documented: int = Field(1, description="Has one.")
        bare: int = 2

    class Outer(StrictModel):
        inner: Inner = Field(Inner(), description="A section.")
        also_bare: str = "x"

    hooks = _hooks()
    with pytest.raises(hooks.UndocumentedFields) as exc:
        hooks.model_reference(Outer, "params.yaml", "params")
    assert "inner.bare (Inner.bare)" in str(exc.value)
    assert "also_bare (Outer.also_bare)" in str(exc.value)
    assert "documented" not in str(exc.value)


def test_docs_build_fails_when_a_params_field_loses_its_description(monkeypatch, tmp_path, caplog):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, PluginError

    from evalgate.config import GateParams

    monkeypatch.setattr(GateParams.model_fields["seed"], "description", None)
    hooks = _hooks()
    with pytest.raises(hooks.UndocumentedFields, match=r"gate\.seed \(GateParams\.seed\)"):
        hooks.params_reference()
    config = load_config(str(REPO / "mkdocs.yml"), site_dir=str(tmp_path / "site"), strict=True)
    with caplog.at_level(logging.ERROR), pytest.raises((Abort, PluginError)):
        build(config)
    assert "gate.seed" in caplog.text


# ------------------------------------------------------------- the README and its headings


@pytest.mark.parametrize(("heading", "page"), README_HEADINGS, ids=[h for h, _ in README_HEADINGS])
def test_every_old_readme_heading_has_a_docs_page(heading, page):
    path = DOCS / page
    assert path.is_file(), f"{heading!r}: docs/{page} does not exist"
    assert heading in _headings(path.read_text(encoding="utf-8")), f"docs/{page} has no heading {heading!r}"


def test_every_docs_page_is_in_the_navigation():
    import yaml

    def pages(node) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in pages(value)]
        return []

    nav = set(pages(yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]))
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert nav == on_disk
    assert {page for _, page in README_HEADINGS} <= nav


def test_readme_is_a_front_door():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    # .ci/run runs the README's two set-up commands.
    setup = text.split("## Set-up: two commands", 1)[1].split("\n## ", 1)[0]
    assert "make pipeline   # installs into .venv, then runs the whole pipeline: dvc repro" in setup
    assert "make test       # installs into .venv, then runs the test suite" in setup
    assert "](docs/report.png)" in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (REPO / target).exists(), f"README links to {target}, which does not exist"
