"""The README's "Your own data" commands, run as printed on the Online Retail export.

The commands are read from README.md and each runs in its own shell, from a folder laid out like a
fresh clone beside ``../shared`` (only ``.venv`` is linked in: the project's conf and JAR cache
are found from the installed package). The run is shared: the first test that asks for it pays.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import PROJECT, SHARED_DATA

SECTION = "## Your own data"


@dataclass(frozen=True)
class OwnDataRun:
    folder: Path                    # the working folder: my.yml, lake/, mlruns/, report/
    outputs: list[tuple[str, str, float]]   # (command, stdout, seconds)


def readme_commands() -> list[str]:
    text = (PROJECT / "README.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def run_readme_commands(root: Path) -> OwnDataRun:
    clone = root / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(PROJECT / ".venv")
    (root / "shared").symlink_to(SHARED_DATA.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_SPARK_", "PYSPARK_GATEWAY"))}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    outputs = []
    for command in readme_commands():
        start = time.perf_counter()
        result = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True,
                                text=True, timeout=3600)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise AssertionError(f"{command} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        outputs.append((command, result.stdout, seconds))
        print(f"own data: {seconds:7.1f} s  {command}")   # shown with pytest -s: the README's timings
    return OwnDataRun(clone, outputs)
