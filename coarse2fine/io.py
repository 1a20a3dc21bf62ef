"""Atomic output: results are written to a temporary sibling and renamed into place when whole.

Where an output may go is checked before any work (``check_output_dir``, ``check_output_file``):
a run must not train for minutes and then find its folder unwritable. The temporary sibling of
a folder ``OUT`` is ``.OUT.PID.XXXX.tmp``; the previous result, during an overwrite, is briefly
``.OUT.old``. A run killed mid-write (SIGKILL, power loss) can leave either behind: the next run
into the same ``OUT`` removes temporary folders whose process is gone and, when ``OUT`` itself is
missing, puts ``.OUT.old`` back (it was a complete result).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coarse2fine.data.dataset import InputError


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable(target: Path) -> None:
    """``target`` can be created: its nearest existing ancestor is a folder we can write into
    (probed by creating and removing a folder there, so it holds for root and ACLs too)."""
    ancestor = _existing_ancestor(target.parent)
    if not ancestor.is_dir():
        raise InputError(f"cannot write {target}: {ancestor} is a file, not a folder")
    try:
        Path(tempfile.mkdtemp(prefix=".c2f-probe.", dir=ancestor)).rmdir()
    except OSError as err:
        reason = err.strerror or str(err)
        raise InputError(
            f"cannot write {target}: {ancestor} is not writable ({reason}); choose another --out"
        ) from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def recover_debris(target: Path) -> None:
    """Remove the temporary files and folders of dead runs into ``target`` and, when ``target`` is
    missing but ``.target.old`` exists (a run died between the two renames of an overwrite),
    put the old complete result back."""
    parent = target.parent
    if not parent.is_dir():
        return
    for tmp in parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        pid = tmp.name[len(target.name) + 2 :].split(".")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
    old = target.with_name(f".{target.name}.old")
    if old.is_dir() and not target.exists():
        old.rename(target)


def check_output_dir(target: str | Path, overwrite: bool = False) -> None:
    """Refuse, before any work, a run folder ``target`` that cannot be written or replaced."""
    target = Path(target)
    recover_debris(target)
    if target.exists() and not target.is_dir():
        raise InputError(
            f"{target} is a file; --out names the folder a run is written into: choose another "
            f"path (--overwrite replaces a run folder, never a file)"
        )
    if target.exists() and not overwrite:
        raise InputError(f"{target} already exists; choose another --out or pass --overwrite")
    _check_creatable(target)


def check_output_file(target: str | Path, overwrite: bool = False) -> None:
    """Refuse, before any work, an output file ``target`` that cannot be written or replaced."""
    target = Path(target)
    recover_debris(target)
    if target.is_dir():
        raise InputError(f"{target} is a folder; --out names the file to write")
    if target.exists() and not overwrite:
        raise InputError(f"{target} already exists; choose another --out or pass --overwrite")
    _check_creatable(target)


@contextmanager
def atomic_dir(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``target`` only if the block finishes.

    A crash or error leaves ``target`` as it was (absent, or the old complete result).
    """
    target = Path(target)
    check_output_dir(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.{os.getpid()}."
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=target.parent))
    old = target.with_name(f".{target.name}.old")
    try:
        yield tmp
        _apply_umask(tmp)
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            try:
                tmp.rename(target)
            except BaseException:
                old.rename(target)  # put the previous complete result back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _apply_umask(root: Path) -> None:
    """mkdtemp/mkstemp create private (0700/0600) entries; give outputs the usual modes."""
    mask = _umask()
    root.chmod(0o777 & ~mask)
    for path in root.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


@contextmanager
def atomic_file(target: str | Path, mode: str = "w") -> Iterator[Any]:
    """Yield an open temporary sibling of ``target`` ("w": text, "wb": bytes) that replaces
    ``target`` only if the block finishes: output written piece by piece (streamed predictions)
    is never seen half-written."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline="" if encoding else None) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write a file through a temporary sibling and an atomic rename."""
    with atomic_file(target) as fh:
        fh.write(text)


def write_json(target: str | Path, obj: Any) -> None:
    atomic_write_text(target, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
