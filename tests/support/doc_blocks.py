"""The fenced code blocks of README.md and docs/*.md, for the tests that run them as printed."""

from __future__ import annotations

import re

from tests.conftest import PROJECT

DOCS = (PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md")))


def doc_blocks(language: str) -> list[tuple[str, str]]:
    """``(file:line, text)`` of every ``language`` block of the docs, in file order."""
    block = re.compile(rf"^```{language}\n(.*?)^```", re.MULTILINE | re.DOTALL)
    blocks = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in block.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{doc.relative_to(PROJECT)}:{line}", match.group(1)))
    return blocks
