"""A file source's checkpoint follows its landing folder when the lake moves (D53).

Structured Streaming's file source remembers the files it has read by their absolute URI (the
``sources/0`` log of the checkpoint). After the project is copied or restored elsewhere, the
query refuses to start (``Wrong basePath``). Each checkpoint therefore records the folder its
source read (:data:`RECORD`); when the source's folder is now another one, the log's paths are
rewritten from the old folder to the new one before the query starts, so a file is known by
its path under the source's folder, wherever that folder is.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re

from pyspark.sql import SparkSession

from crm_spark import fs

log = logging.getLogger(__name__)

RECORD = "crm_spark_source"          # the folder the source read, in the checkpoint's root
LOG_FILE = re.compile(r"^\d+(\.compact)?$")
URI = re.compile(r"^([A-Za-z][\w+.-]*:(?://[^/]*)?)(/.*)$")
GLOB = re.compile(r"[*?\[{]")


def follow_source_folder(spark: SparkSession, checkpoint: str, source_path: str) -> int:
    """Point the checkpoint's file log at ``source_path`` when it names another folder.

    The old folder comes from the checkpoint's record, or, for a checkpoint written before
    records existed, from the logged files (their common folder, without partition folders
    ``key=value``). Each log file is replaced in one step and the record last, so a run
    interrupted half-way rewrites the rest next time.

    Returns:
        The number of log files rewritten (0 when the source did not move).
    """
    checkpoint = checkpoint.rstrip("/")
    new = _normalised(fs.qualified_uri(spark, _folder_of(source_path)))
    log_dir = f"{checkpoint}/sources/0"
    names = [n for n in fs.file_names(spark, log_dir) if LOG_FILE.match(n)]
    recorded = fs.read_text(spark, f"{checkpoint}/{RECORD}")
    old = _normalised(recorded.strip()) if recorded else None
    if old is None and not GLOB.search(source_path):
        old = _common_folder([p for n in names for p in _paths(fs.read_text(spark, f"{log_dir}/{n}"))])
    rewritten = 0
    if old is not None and old != new:
        for name in names:
            text = fs.read_text(spark, f"{log_dir}/{name}") or ""
            moved = _moved_log(text, old, new)
            if moved != text:
                fs.replace_text(spark, f"{log_dir}/{name}", moved)
                rewritten += 1
        log.warning("source folder moved from %s to %s: its checkpoint now refers to the new "
                    "folder (%d log file(s) rewritten; files already ingested are not read again)",
                    old, new, rewritten)
    if old != new or recorded is None:
        fs.replace_text(spark, f"{checkpoint}/{RECORD}", new)
    return rewritten


def _folder_of(source_path: str) -> str:
    """The folder part of a location: a glob pattern's leading folders without wildcards."""
    parts = source_path.rstrip("/").split("/")
    for index, part in enumerate(parts):
        if GLOB.search(part):
            return "/".join(parts[:index]) or "/"
    return "/".join(parts)


def _normalised(uri: str) -> str:
    """One spelling per URI: ``file:///a`` and ``file:/a`` are the same file."""
    return re.sub(r"^([A-Za-z][\w+.-]*):///", r"\1:/", uri).rstrip("/")


def _spelled_like(uri: str, example: str) -> str:
    """``uri`` with the empty authority (``file:///``) when ``example`` has one."""
    if re.match(r"^[A-Za-z][\w+.-]*:///", example):
        return re.sub(r"^([A-Za-z][\w+.-]*):/(?!/)", r"\1:///", uri)
    return uri


def _paths(text: str | None) -> list[str]:
    if not text:
        return []
    paths = []
    for line in text.splitlines()[1:]:
        try:
            paths.append(json.loads(line)["path"])
        except (ValueError, KeyError, TypeError):
            continue
    return paths


def _common_folder(paths: list[str]) -> str | None:
    """The folder holding every path, without trailing partition folders; None for none."""
    matches = [m for p in paths if (m := URI.match(_normalised(p))) is not None]
    if not matches or len(matches) < len(paths) or len({m.group(1) for m in matches}) != 1:
        return None
    folder = posixpath.commonpath([posixpath.dirname(m.group(2)) for m in matches])
    while "=" in posixpath.basename(folder):
        folder = posixpath.dirname(folder)
    return matches[0].group(1) + folder


def _moved_log(text: str, old: str, new: str) -> str:
    """The log ``text`` with every path under ``old`` moved under ``new`` (others unchanged)."""
    if not text:
        return text
    header, *entries = text.splitlines()
    lines = [header]
    for line in entries:
        try:
            entry = json.loads(line)
            path = _normalised(entry["path"])
        except (ValueError, KeyError, TypeError):
            lines.append(line)
            continue
        if path.startswith(old + "/"):
            entry["path"] = _spelled_like(new + path[len(old):], entry["path"])
            line = json.dumps(entry, separators=(",", ":"))
        lines.append(line)
    return "\n".join(lines)
