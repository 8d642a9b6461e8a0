"""Files named on the command line: read them, check where output goes, write without leftovers.

Every problem becomes a typed error naming the option and the path (never the file's content),
so that the edge prints one line instead of an ``OSError`` traceback or "internal error".
Output folders are checked *before* a command changes anything: a certificate must not be issued,
or a CRL published, only to find out afterwards that its files cannot be written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from fincert.errors import InvalidInput, NotFound


#: The most a command reads of the files it is given (read whole, into memory): a signature or a
#: key file is a few kilobytes, and a name such as /dev/zero must not read forever.
MAX_SIGNATURE_BYTES = 16 * 1024 * 1024
MAX_KEY_FILE_BYTES = 1024 * 1024
MAX_CONTENT_BYTES = 512 * 1024 * 1024


def read_input(path: Path, what: str, *, limit: int = MAX_CONTENT_BYTES) -> bytes:
    """The bytes of a file the user named (``what`` says which, e.g. "signature file"), at most
    ``limit`` of them: a larger file (or an endless one) is refused by name."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise InvalidInput(f"{what} {path} is larger than {_size(limit)}: not a file this command reads")
        return data
    except FileNotFoundError:
        raise NotFound(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{what} {path} is a folder, not a file") from None
    except NotADirectoryError:
        raise NotFound(f"{what} {path} does not exist (a part of the path is a file)") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count >= 1024 * 1024 else f"{count // 1024} KiB"


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _probe_writable(folder: Path, option: str, path: Path) -> None:
    # As root os.access() says yes to everything (and read-only mounts fool it too): only a real
    # write tells. The probe file is removed at once.
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".fincert-probe-"):
            pass
    except OSError as exc:
        raise InvalidInput(f"cannot write to {option} {path}: {exc.strerror or exc}") from None


def check_output_folder(folder: Path, option: str) -> None:
    """``folder`` is, or can be created as, a folder we may write into. Creates nothing."""
    try:
        folder.resolve()
    except (RuntimeError, OSError):  # RuntimeError before Python 3.13, OSError (ELOOP) since
        # Looked like a folder still to be created (the loop "does not exist"): the certificate
        # was issued, then resolving the path failed as an internal error, its key lost.
        raise InvalidInput(f"{option} {folder} goes through a loop of symbolic links: give a folder") from None
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"is under the file {existing}"
        raise InvalidInput(f"{option} {folder} {where}, not a folder")
    _probe_writable(existing, option, folder)


_SYSTEM_FOLDERS = ("/dev/", "/proc/")


def _is_special(path: Path) -> bool:
    """A device, pipe or socket, or a name under /dev or /proc (``/dev/stdout`` is a link to
    ``/proc/self/fd/1``, which links on to whatever the shell redirected: a terminal, a pipe, or
    a regular file that only looks like one). Links are followed one at a time, so that a link
    into /proc is seen even though the file it ends at is not there."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's limit of links in a row
        folder = os.path.realpath(os.path.dirname(current))
        if any(f"{name}/".startswith(_SYSTEM_FOLDERS) and not f"{name}/".startswith("/dev/shm/") for name in (current, folder)):
            return True
        if not os.path.islink(current):
            break
        current = os.path.normpath(os.path.join(folder, os.readlink(current)))
    return path.exists() and not path.is_dir() and not path.is_file()


def _refuse_special(path: Path, option: str) -> None:
    # Such an output cannot be replaced by a renamed file: as root the rename used to put a
    # regular file in place of /dev/stdout or a device node, and a link to /proc/self/fd/1
    # replaced the file the shell was writing the command's own output to.
    if _is_special(path):
        raise InvalidInput(f"{option} {path} is not a regular file (a device, pipe or terminal): give the name of a file")


def _write_target(path: Path) -> Path:
    """The file a write to ``path`` replaces: through symbolic links, so that a link (e.g.
    ``current.crl -> 2026/06.crl``) keeps pointing at the new content instead of being replaced."""
    return Path(os.path.realpath(path))


def check_output_file(path: Path, option: str) -> None:
    """``path`` can be written as a file: its folder exists and is writable, it is not a folder."""
    if path.is_dir():
        raise InvalidInput(f"{option} {path} is a folder, not a file")
    _refuse_special(path, option)
    target = _write_target(path)
    if not target.parent.is_dir():
        raise InvalidInput(f"the folder of {option} {path} does not exist")
    _probe_writable(target.parent, option, path)


def refuse_overwriting(path: Path, option: str, inputs: Iterable[tuple[Path, str]], home: Path | None = None) -> None:
    """``path`` is not a file the command reads (``inputs``: path and what it is), nor an existing
    file of FINCERT_HOME (the database, CA keys and certificates): writing the output over one of
    them would destroy the document just signed, the holder's certificate, or the deployment."""
    if not path.exists():
        return
    for other, what in inputs:
        try:
            same = os.path.samefile(path, other)
        except OSError:  # it does not exist (the command reports that), or cannot be looked at
            continue
        if same:
            raise InvalidInput(f"{option} {path} is the {what}: write the output to another file")
    if home is not None and path.resolve().is_relative_to(home.resolve()):
        raise InvalidInput(f"{option} {path} is a file of FINCERT_HOME: write the output outside {home}")


def write_output(path: Path, data: bytes, option: str, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file renamed into place; a
    symbolic link is followed and the file it points to is replaced)."""
    _refuse_special(path, option)
    target = _write_target(path)
    if mode is None:
        # mkstemp makes 0600 files; a signature or CRL gets the permissions a plain write would.
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before the rename: a crash leaves the old file or the new one
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise InvalidInput(f"cannot write {option} {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
