"""File and directory paths in settings files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator


def _usable(path: Path) -> Path:
    # the operating system refuses a NUL in a path, but only when the program first opens
    # it: refused here, the key path is named and `check` and `run` agree
    if "\x00" in str(path):
        raise ValueError(f"a path must not contain a NUL character: {str(path)!r}")
    return path


#: a path the operating system can open (no NUL character)
LocalPath = Annotated[Path, AfterValidator(_usable)]
