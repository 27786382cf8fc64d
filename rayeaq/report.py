"""``python -m rayeaq.report RESULTS_DIR [--out DIR] [--only NAME ...]``: the analysis notebooks, executed headless.

Each notebook of ``analysis/notebooks/`` (jupytext percent-format ``.py``) is read with jupytext, given the
results directory papermill-style (a cell injected after the one tagged ``parameters``), executed with
nbclient on a Python kernel that runs *this* interpreter (so the venv's packages are the ones used, whatever
kernel specs the machine has), and written as an executed ``.ipynb`` and as HTML (nbconvert). The notebooks
themselves write PNG figures and CSV tables. Everything goes to ``RESULTS_DIR/report/``::

    report/index.html, report/<notebook>.ipynb, report/<notebook>.html, report/figures/*.png, report/tables/*.csv

A missing or empty results directory (no trial with an evaluation), or missing analysis extras, is a one-line
error, exit 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rayeaq.cli import run_cli
from rayeaq.core.errors import UserError

NOTEBOOKS = ("main_table", "improvement", "sensitivity", "learning_curves", "fidelity")
"""Executed in this order; names of ``analysis/notebooks/<name>.py``."""


EXTRAS = ("jupytext", "nbformat", "nbclient", "nbconvert", "ipykernel", "matplotlib", "sklearn")
"""Modules of the ``analysis`` extra that the report needs (checked before anything runs)."""


class ReportError(UserError):
    """The report cannot be made (bad results directory, missing extras, or a notebook failed)."""


def require_extras(modules: Sequence[str] | None = None) -> None:
    """Raise :class:`ReportError` (one line) when a module of the ``analysis`` extra (:data:`EXTRAS`) is missing."""
    missing = [m for m in (EXTRAS if modules is None else modules) if importlib.util.find_spec(m) is None]
    if missing:
        raise ReportError(
            f'the report needs the analysis extras (missing: {", ".join(missing)}): pip install -e ".[analysis]"'
        )


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def notebook_dir() -> Path:
    """Where the notebook sources live (next to the ``analysis`` package)."""
    import analysis

    return Path(analysis.__file__).resolve().parent / "notebooks"


def kernel_manager(cwd: Path):
    """A Jupyter kernel manager whose kernel is ``sys.executable -m ipykernel_launcher`` (never a kernel spec
    found elsewhere on the machine)."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import KernelManager

    class _ThisPython(KernelManager):
        @property
        def kernel_spec(self):
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python ({sys.executable})",
                language="python",
                env={},
            )

    # IPC sockets in the report directory: no TCP ports, and no "running over TCP without encryption" warning
    return _ThisPython(kernel_name="python3", transport="ipc", ip=str(cwd / ".kernel"))


def parameter_cell(params: dict):
    """The injected cell (tagged ``injected-parameters``, as papermill does)."""
    import nbformat

    source = "# Parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())
    return nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})


def inject(nb, params: dict) -> None:
    """Insert the parameter cell after the cell tagged ``parameters`` (at the top when none is)."""
    index = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), -1)
    nb.cells.insert(index + 1, parameter_cell(params))


def execute_notebook(source: Path, params: dict, out: Path, timeout: int = 900) -> Path:
    """Read ``source`` (jupytext), inject ``params``, execute it in ``out``, write ``.ipynb`` and ``.html``.

    A failing cell raises :class:`ReportError` naming the notebook and the error; the partially executed
    notebook is still written, for inspection.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.read(source)
    inject(nb, params)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    km = kernel_manager(out)
    client = NotebookClient(nb, timeout=timeout, km=km, resources={"metadata": {"path": str(out)}})
    failure = None
    try:
        client.execute()
    except CellExecutionError as err:
        failure = err
    finally:
        if km.has_kernel:  # we own the kernel manager, so nbclient leaves the kernel running
            km.shutdown_kernel(now=True)
        ipynb = out / f"{source.stem}.ipynb"
        nbformat.write(nb, ipynb)
        write_html(nb, out / f"{source.stem}.html")
    if failure is not None:
        what = f"{getattr(failure, 'ename', type(failure).__name__)}: {getattr(failure, 'evalue', '')}".strip()
        raise ReportError(f"notebook {source.name} failed ({' '.join(what.split())}); see {ipynb}")
    return ipynb


def write_html(nb, path: Path) -> Path:
    """The executed notebook as a standalone HTML page (images embedded)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    path.write_text(body, encoding="utf-8")
    return path


def write_index(out: Path, names: Sequence[str]) -> Path:
    """``index.html`` linking the notebooks, figures and tables."""

    def links(paths):
        return "".join(f'<li><a href="{p.relative_to(out)}">{p.relative_to(out)}</a></li>' for p in paths)

    html = (
        "<!doctype html><meta charset='utf-8'><title>rayeaq report</title><h1>rayeaq report</h1>"
        f"<h2>Notebooks</h2><ul>{links(out / f'{n}.html' for n in names)}</ul>"
        f"<h2>Figures</h2><ul>{links(sorted((out / 'figures').glob('*.png')))}</ul>"
        f"<h2>Tables</h2><ul>{links(sorted((out / 'tables').glob('*.csv')))}</ul>"
    )
    path = out / "index.html"
    path.write_text(html, encoding="utf-8")
    return path


def make_report(
    results_dir: str | Path,
    out: str | Path | None = None,
    only: Sequence[str] | None = None,
    reps: int | None = None,
    log=print,
) -> Path:
    """Validate ``results_dir``, execute the notebooks, return the report directory."""
    require_extras()
    from analysis.loader import load_results

    results_dir = Path(results_dir).resolve()
    load_results(results_dir)  # fail fast, one line, before any kernel starts
    names = list(only or NOTEBOOKS)
    unknown = [n for n in names if not (notebook_dir() / f"{n}.py").is_file()]
    if unknown:
        raise ReportError(f"unknown notebook(s) {unknown}; expected some of {list(NOTEBOOKS)}")
    out = Path(out).resolve() if out else results_dir / "report"
    for sub in ("figures", "tables"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    params: dict = {"results_dir": str(results_dir), "out_dir": str(out)}
    if reps is not None:
        params["bootstrap_reps"] = int(reps)
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in names:
        start = time.perf_counter()
        execute_notebook(notebook_dir() / f"{name}.py", params, out)
        log(f"report: {name} executed in {time.perf_counter() - start:.1f} s")
    write_index(out, names)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rayeaq.report", description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", help="a Ray Tune results directory (what rayeaq.tune wrote)")
    parser.add_argument("--out", default=None, help="report directory (default: RESULTS_DIR/report)")
    parser.add_argument(
        "--only", nargs="+", default=None, metavar="NAME", help=f"notebooks to run ({', '.join(NOTEBOOKS)})"
    )
    parser.add_argument(
        "--reps", type=positive_int, default=None, help="bootstrap replicates (default: each notebook's)"
    )
    args = parser.parse_args(argv)
    out = make_report(args.results_dir, args.out, args.only, args.reps)
    figures = sorted((out / "figures").glob("*.png"))
    tables = sorted((out / "tables").glob("*.csv"))
    print(f"report: {len(figures)} figures, {len(tables)} tables, HTML in {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    run_cli(main)
