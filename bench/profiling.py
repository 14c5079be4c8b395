"""Optional pyinstrument profiles of a benchmark (`--profile DIR`); pyinstrument is not a
project dependency: `pip install pyinstrument` into the venv to use it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import say


@contextmanager
def profiled(name: str, directory: Path | None) -> Iterator[None]:
    """Profile the block into DIR/<name>.html and DIR/<name>.txt when a directory is given."""
    if directory is None:
        yield
        return
    try:
        from pyinstrument import Profiler
    except ImportError as exc:
        raise SystemExit("--profile needs pyinstrument: pip install pyinstrument") from exc
    directory.mkdir(parents=True, exist_ok=True)
    # Sample the whole thread: the worker, the API and the client share one event loop.
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        (directory / f"{name}.html").write_text(profiler.output_html())
        (directory / f"{name}.txt").write_text(profiler.output_text(unicode=False, color=False))
        if profiler.last_session is not None:
            profiler.last_session.save(str(directory / f"{name}.pyisession"))
        say(f"{name}: profile written to {directory / name}.html")
