"""`dases quickstart`: the whole data space working on one machine, in one command.

An operator node and three member nodes (two EdTech providers, one school consuming data) on
the embedded default (SQLite files under one folder), an OULAD-based scenario, and the journey
from publication to a trained dropout model and an impact study. See `journey` for what is real
HTTP between nodes and what is simulated.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dases.errors import InvalidInput

#: A folder the quickstart made holds this file; only such a folder is ever emptied by `--fresh`.
MARKER = ".dases-quickstart"


def prepare_folder(root: Path, fresh: bool) -> None:
    """Make `root` ready: new, or an earlier quickstart's folder when `fresh` is set."""
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).is_file():
            raise InvalidInput(f"{root} exists and is not a quickstart folder: choose another --data-dir")
        if not fresh:
            raise InvalidInput(f"{root} holds an earlier quickstart: pass --fresh to start over, or choose another --data-dir")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by dases quickstart; --fresh may delete this folder\n")
