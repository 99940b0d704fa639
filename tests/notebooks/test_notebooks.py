"""Both notebooks run top to bottom on the session's demo lake, in a kernel of this interpreter.

The kernel is a separate process with its own small Spark session (local[1], 2 shuffle
partitions, UI off): the notebook reads the lake and the MLflow store of ``demo_lake`` through
the environment variables of ``crm_spark.notebook``. Any cell error fails the test; the executed
notebooks are kept under ``test-artifacts/notebooks/``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests import conftest

PROJECT = conftest.PROJECT
NOTEBOOKS = PROJECT / "notebooks"
NAMES = ("01_explore_customers.ipynb", "02_model_review.ipynb")
ARTIFACTS = PROJECT / "test-artifacts" / "notebooks"
KERNEL = "crm-spark-test"
CELL_TIMEOUT_SECONDS = 900


@pytest.fixture(scope="module")
def kernel_spec_manager(tmp_path_factory) -> KernelSpecManager:
    """Kernel specs holding one kernel: this interpreter (the project's venv), whatever kernels
    the machine has registered under ``python3``."""
    folder = tmp_path_factory.mktemp("kernels")
    (folder / KERNEL).mkdir()
    (folder / KERNEL / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "crm-spark (tests)", "language": "python"}))
    return KernelSpecManager(kernel_dirs=[str(folder)])


def notebook_env(cfg) -> dict[str, str]:
    """The test process's environment with the notebook parameters pointing at ``cfg``'s lake."""
    overrides = [*conftest.test_overrides(Path(cfg.lake.root).parent), "spark.master=local[1]",
                 "spark.driver_memory=1g",
                 f"lake.root={cfg.lake.root}", f"mlflow.tracking_uri={cfg.mlflow.tracking_uri}",
                 f"mlflow.artifact_location={cfg.mlflow.artifact_location}"]
    return {**os.environ, "CRM_SPARK_PROJECT": str(PROJECT), "CRM_SPARK_SET": "\n".join(overrides),
            "CRM_SPARK_CONF": "", "CRM_SPARK_AS_OF": "",
            # figures as JSON only: the default notebook renderer embeds plotly.js in each output
            "PLOTLY_RENDERER": "plotly_mimetype"}


def test_notebooks_are_committed_without_outputs():
    for name in NAMES:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code, name
        assert all(not cell.outputs and cell.execution_count is None for cell in code), (
            f"{name} has outputs: clear them before committing")


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, demo_lake, kernel_spec_manager):
    cfg, _, _ = demo_lake
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    manager = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_spec_manager)
    client = NotebookClient(notebook, km=manager, kernel_name=KERNEL, timeout=CELL_TIMEOUT_SECONDS,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    started = time.perf_counter()
    try:
        client.execute(env=notebook_env(cfg))
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, ARTIFACTS / name)
    print(f"{name}: executed in {time.perf_counter() - started:.1f} s")
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) >= 3, f"{name} showed {len(figures)} charts"
