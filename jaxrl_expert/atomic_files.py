"""Files appear whole or not at all (write to a temporary name, then rename); versioned JSON."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Calls `write(f)` on a temporary file beside `path`, fsyncs, then renames it to `path`."""
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-" + os.path.basename(path))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other users
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str | os.PathLike, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_atomic(path, lambda f: f.write(text.encode()))


def read_versioned_json(path: str | os.PathLike, version: int, what: str) -> dict[str, Any]:
    """A JSON object file whose `format_version` must equal `version`.

    Every failure is one ValueError naming `what` and the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{what} {path!r} is missing")
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} {path!r} is unreadable or not valid JSON: {e}") from None
    found = data.get("format_version") if isinstance(data, dict) else None
    if found != version:
        raise ValueError(
            f"{what} {path!r} has format_version {found!r}; this jaxrl_expert reads version "
            f"{version}"
        )
    return data
