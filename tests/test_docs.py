"""The docs point at things that exist: links, and repository paths named in docs and code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = sorted(
    p for folder in ("coarse2fine", "bench", "tests") for p in (ROOT / folder).rglob("*.py")
)
# a repository path: starts at a top-level folder, ends in a file suffix
PATH = re.compile(
    r"(?<![\w/.])((?:bench|docs|tests|coarse2fine|\.ci)/[\w./-]+\.(?:py|md|json|png|js|toml))"
)


def named_paths(text: str) -> set[str]:
    return {p for p in PATH.findall(text) if "*" not in p}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_and_paths_in_docs_exist(doc):
    text = doc.read_text(encoding="utf-8")
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        target = target.split("#")[0]
        if target and not re.match(r"[a-z]+:", target) and not (doc.parent / target).exists():
            missing.append(target)
    missing += [p for p in named_paths(text) if not (ROOT / p).exists()]
    assert not missing, f"{doc.name} points at missing files: {sorted(set(missing))}"


def test_paths_named_in_code_exist_and_no_outside_spec_is_cited():
    missing, outside = [], []
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        missing += [f"{source.name}: {p}" for p in named_paths(text) if not (ROOT / p).exists()]
        if "METHODS.md" in text and source.name != "test_docs.py":
            outside.append(source.name)  # the team's spec lives outside the repository
    assert not missing, missing
    assert not outside, f"these cite METHODS.md, which users do not have: {outside}"


def test_docs_are_dated_not_numbered_by_internal_work_units():
    pattern = re.compile(r"\b(?:session|issue) \d+", re.I)
    found = [
        f"{path.relative_to(ROOT)}: {m.group(0)}"
        for path in [*DOCS, *SOURCES]
        if path.name != "test_docs.py"
        for m in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found
