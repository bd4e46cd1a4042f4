"""Files appear whole or not at all (write to a temporary name, then rename); versioned
JSON; a lock that keeps a second writer out of a directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
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


OLD_PREFIX = ".old-"  # a replaced directory's old copy, until the new one is in place


def replace_directory(new: str, path: str) -> None:
    """Renames directory `new` to `path`, replacing what is there without a moment where
    a kill leaves neither: the old copy is renamed aside (`.old-<name>`) first and
    deleted last; `recover_replaced` puts it back if the new one never arrived."""
    parent, name = os.path.split(os.path.abspath(path))
    old = os.path.join(parent, OLD_PREFIX + name)
    recover_replaced(parent)
    if os.path.exists(path):
        os.replace(path, old)
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)


def recover_replaced(folder: str) -> None:
    """Finishes the `replace_directory` calls a kill interrupted in `folder`."""
    if not os.path.isdir(folder):
        return
    for entry in os.listdir(folder):
        if not entry.startswith(OLD_PREFIX):
            continue
        old, path = os.path.join(folder, entry), os.path.join(folder, entry[len(OLD_PREFIX) :])
        if os.path.exists(path):
            shutil.rmtree(old, ignore_errors=True)  # the new copy is in place
        else:
            os.replace(old, path)  # the kill came between the renames: the old copy returns


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


class DirectoryLock:
    """`{directory}/.lock` while one process writes there: a second writer is refused.

    The file holds the holder's host and pid; a lock whose holder is gone (same
    host, no such process: a killed run) is taken over.
    """

    def __init__(self, directory: str, what: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, ".lock")
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _lock_holder(self.path)
                if holder is not None and _alive(holder, me["host"]):
                    raise ValueError(
                        f"{what} {directory!r} is in use by process {holder.get('pid')} on "
                        f"{holder.get('host')}; wait for it or use another directory (if no such "
                        f"run is going on, delete {self.path})"
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path)  # stale: its holder was killed
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return
        raise ValueError(f"{what} {directory!r}: could not take {self.path}; try again")

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)


def _lock_holder(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            holder = json.load(f)
    except (OSError, ValueError):
        return None  # unreadable: a holder killed while writing it
    return holder if isinstance(holder, dict) else None


def _alive(holder: dict[str, Any], host: str) -> bool:
    if holder.get("host") != host:
        return True  # another machine's process: cannot be checked from here
    try:
        os.kill(int(holder.get("pid", -1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    return True
