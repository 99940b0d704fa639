"""Every ```yaml block of README.md and docs/*.md is a configuration that loads as printed, merged
on the project's conf, with its sources validated (issue 20, point 7: the first example of
docs/sources.md had a comment inside its folded schema, which made the schema invalid).
What the mapping example computes is checked in tests/silver/test_mapping_docs.py."""

from __future__ import annotations

import pytest

from crm_spark.config import load_config
from crm_spark.sources.registry import load_sources
from tests.conftest import CONF_DIR
from tests.support.doc_blocks import doc_blocks


def yaml_blocks() -> list[tuple[str, str]]:
    return doc_blocks("yaml")


def test_the_docs_hold_yaml_blocks():
    assert len([w for w, _ in yaml_blocks() if w.startswith("docs/sources.md")]) >= 3


@pytest.mark.parametrize("where, text", yaml_blocks(), ids=[w for w, _ in yaml_blocks()])
def test_a_yaml_block_loads_as_printed(tmp_path, where, text):
    conf = tmp_path / "block.yml"
    conf.write_text(text, encoding="utf-8")
    cfg = load_config([conf], conf_dir=CONF_DIR, env="local")
    load_sources(cfg)
