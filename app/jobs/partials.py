"""A job's partial files: the hidden temporaries its outputs are written to before the rename.

Every writer puts its temporary beside the final file, named after it, so that the rename is
atomic. A worker killed mid-write (kill -9, power cut) leaves its temporary behind; the queue
removes it when the job is reclaimed or settles. The names, by writer:

    app.media.output.temp_path_for (videos)       .NAME.1a2b3c.part.mp4
    engines.imaging.write_image_atomic (images)   .NAME.k3j_9x0q.png.part
    engines.external.outputs.temp_output          .NAME.facefusion-1a2b3c4d.part.png
      and its re-muxed copy                       .NAME.facefusion-1a2b3c4d.part.mp4.tagged.mp4

tests/test_jobs_partials.py makes names with those very functions, so a writer that changes its
naming breaks that test rather than leaving files behind.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

_log = logging.getLogger(__name__)


def _pattern(final: Path) -> re.Pattern[str]:
    stem, suffix = re.escape(final.stem), re.escape(final.suffix)
    lower = re.escape(final.suffix.lower() or ".png")
    return re.compile(
        rf"\.{stem}\."
        rf"(?:[0-9a-f]{{6}}\.part{suffix}"  # app.media.output
        rf"|[a-z0-9_]{{8}}{lower}\.part"  # engines.imaging (tempfile.mkstemp's 8 characters)
        rf"|[a-z][a-z0-9_-]{{0,39}}-[0-9a-f]{{8}}\.part{suffix}(?:\.tagged{suffix})?)"  # external engines
    )


def partial_files(finals: Iterable[Path]) -> list[Path]:
    """The partial files that exist now for these final output files."""
    found: list[Path] = []
    for final in dict.fromkeys(Path(f) for f in finals):
        pattern = _pattern(final)
        try:
            names = [entry.name for entry in final.parent.iterdir()]
        except OSError:  # no such folder (yet), or not readable: nothing of ours can be there
            continue
        found.extend(final.parent / name for name in sorted(names) if pattern.fullmatch(name))
    return found


def remove(paths: Iterable[Path]) -> list[Path]:
    """Delete these files; returns the ones that were removed (a missing one is no error)."""
    removed: list[Path] = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            _log.warning("could not remove the partial file %s: %s", path, error)
            continue
        removed.append(path)
    return removed
