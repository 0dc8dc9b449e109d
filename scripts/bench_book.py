"""Benchmark the course site: cold build, warm rebuild, and each chapter's execution time and peak memory.

    python scripts/bench_book.py            # or: make bench

Prints figures; asserts nothing (these machines are shared and noisy). The cold build
goes to a temporary output folder, so the real `_build/` and its cache stay as they are.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml
from myst_nb.core.read import read_myst_markdown_notebook
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def chapters() -> list[Path]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    files += [chapter["file"] for chapter in toc.get("chapters", [])]
    return [REPO / f"{name}.md" for name in files if (REPO / f"{name}.md").exists()]


def build(output: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / "jupyter-book"), "build", str(REPO), "--path-output", str(output), "-q"],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start


class PeakMemory:
    """Polls the resident memory of this process's children (the kernel) and keeps the peak."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def execute(chapter: Path) -> tuple[float, int, bool]:
    notebook = read_myst_markdown_notebook(chapter.read_text())
    if not any(cell.cell_type == "code" for cell in notebook.cells):
        return 0.0, 0, False
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(chapter.parent)}}
    )
    with PeakMemory() as memory:
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    return seconds, memory.peak, True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-build", action="store_true", help="only time each chapter's execution")
    args = parser.parse_args()
    print("Course site benchmark")
    if not args.skip_build:
        output = Path(tempfile.mkdtemp(prefix="bench-book-"))
        try:
            cold = build(output)
            warm = build(output)
        finally:
            shutil.rmtree(output, ignore_errors=True)
        print(f"  cold build (empty cache, every chapter executed): {cold:7.1f} s")
        print(f"  warm rebuild (nothing changed):                    {warm:7.1f} s")
    print(f"  {'chapter':<36} {'execution':>10} {'peak kernel memory':>20}")
    for chapter in chapters():
        seconds, peak, has_code = execute(chapter)
        if has_code:
            print(f"  {chapter.stem:<36} {seconds:9.1f}s {peak / 2**20:17.0f} MiB")
        else:
            print(f"  {chapter.stem:<36} {'(no code)':>10}")


if __name__ == "__main__":
    main()
