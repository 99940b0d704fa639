"""Headless Chromium for tests: installed from Debian's packages when missing; renders a local page
to its DOM (after its scripts ran), its console messages and a screenshot.

Chromium (checked with 156) writes every console message of a page to stderr with
``--enable-logging=stderr`` as ``[pid:tid:time:INFO:CONSOLE:<line>] "<message>", source: <url> (<line>)``,
whatever its level: console.error and console.log look the same, and an uncaught exception (also a
syntax error or a rejected promise) is a message starting with ``Uncaught``. Older builds write
``INFO:CONSOLE(<line>)``; both are parsed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

CONSOLE_LINE = re.compile(
    r":CONSOLE(?::\d+|\(\d+\))\] \"(?P<message>.*)\", source: (?P<source>.*) \((?P<line>\d+)\)\s*$")
VIRTUAL_TIME_MS = 10_000
TIMEOUT_S = 300
VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                 "track", "wbr"}


@dataclass(frozen=True)
class ConsoleMessage:
    message: str
    source: str
    line: int

    @property
    def is_uncaught_error(self) -> bool:
        return self.message.startswith("Uncaught")


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: tuple[ConsoleMessage, ...]
    stderr: str


def chromium() -> str:
    """The chromium executable, installing Debian's ``chromium`` package first if needed."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("chromium is not installed and we are not root: sudo apt-get install -y chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
                   check=True, env=env, capture_output=True)
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("apt-get install chromium did not provide a chromium executable")
    return found


def _run(page: Path, *action: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="crm-chromium-") as profile:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             "--disable-background-networking", "--enable-logging=stderr", "--v=0",
             f"--virtual-time-budget={VIRTUAL_TIME_MS}", *action, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=TIMEOUT_S, check=True)


def console_messages(stderr: str) -> tuple[ConsoleMessage, ...]:
    """The page's console messages in Chromium's log (module doc), in order."""
    found = []
    for line in stderr.splitlines():
        match = CONSOLE_LINE.search(line)
        if match:
            found.append(ConsoleMessage(match["message"], match["source"], int(match["line"])))
    return tuple(found)


def render(page: Path) -> Rendered:
    """The page's DOM after its scripts ran (virtual time), with its console messages."""
    done = _run(page, "--dump-dom")
    return Rendered(done.stdout, console_messages(done.stderr), done.stderr)


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 5000) -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")
    return png


class _SectionScanner(HTMLParser):
    """Per ``data-section`` element: whether it holds a drawn plotly chart (an ``svg.main-svg``
    inside a ``.chart``) and whether it holds an ``.empty-note``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None, set[str]]] = []
        self.states: dict[str, set[str]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = set((attributes.get("class") or "").split())
        section = attributes.get("data-section")
        if section is not None:
            self.states.setdefault(section, set())
        current = next((s for _, s, _ in reversed(self.stack) if s is not None), None)
        if current is not None:
            in_chart = any("chart" in c for _, _, c in self.stack)
            if tag == "svg" and "main-svg" in classes and in_chart:
                self.states[current].add("chart")
            if "empty-note" in classes:
                self.states[current].add("empty")
        if tag not in VOID_ELEMENTS:
            self.stack.append((tag, section, classes))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID_ELEMENTS:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


def section_states(dom: str) -> dict[str, set[str]]:
    """Section id -> what it shows: {'chart'}, {'empty'}, both, or nothing."""
    scanner = _SectionScanner()
    scanner.feed(dom)
    scanner.close()
    return scanner.states
