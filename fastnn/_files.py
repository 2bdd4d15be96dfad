"""Opening untrusted files safely, and writing files with ordinary permissions.

* :func:`open_regular` opens a path for reading only if it is (after resolving
  symlinks) a regular file.  A FIFO, a character device such as ``/dev/zero``,
  a socket or a directory would block forever or stream without end; they are
  refused before anything is read.  The file is opened with ``O_NONBLOCK`` and
  checked with ``fstat`` on the open descriptor, so opening a FIFO does not
  block and nothing can swap the file between the check and the read.
* :func:`read_chunked` reads up to ``n`` bytes into a uint8 array without
  allocating ``n`` up front: a header may declare any size, memory follows the
  bytes really present (peak about the data plus one chunk).
* :func:`default_file_mode` is the mode ``open(path, "w")`` gives a new file
  (``0o666`` minus the umask); :func:`mkstemp_like_open` makes a temporary file
  (for an atomic write-then-rename) with that mode instead of ``mkstemp``'s
  ``0o600``.
"""
import os
import stat
import tempfile

import numpy as np

__all__ = ["NotRegularFileError", "open_regular", "check_regular", "read_chunked",
           "default_file_mode", "mkstemp_like_open"]

# untrusted data is read in pieces of this size, so memory grows with the bytes really read
READ_CHUNK = 1 << 24


class NotRegularFileError(OSError):
    """The path exists but is not a regular file (FIFO, device, socket, directory)."""


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, mode="rb", **kwargs):
    """``open(path, mode)`` for reading, refusing anything but a regular file.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist (or is a dangling symlink).
    NotRegularFileError
        ``path`` (after resolving symlinks) is a FIFO, device, socket or
        directory; the message names the path and what it is.
    OSError
        Any other failure to open it.
    """
    if any(c in mode for c in "wax+"):
        raise ValueError(f"open_regular: mode must be a read mode, got {mode!r}")
    path = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise NotRegularFileError(f"{path!r} is a directory, not a regular file") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(f"{path!r} is {_kind(st.st_mode)}, not a regular file; "
                                      "refused (reading it could block or never end)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return open(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def check_regular(path):
    """Raise :class:`NotRegularFileError` when ``path`` exists but (after resolving symlinks)
    is not a regular file; FileNotFoundError when it does not exist."""
    with open_regular(path, "rb"):
        pass


def read_chunked(f, nbytes, chunk=READ_CHUNK):
    """Up to ``nbytes`` bytes of binary file ``f`` as a 1-d uint8 array (shorter at end of file).

    The bytes are read in ``chunk``-sized pieces, and only then copied into one array of the
    length really read, each piece released as it is copied: nothing is allocated for bytes the
    file does not hold, and the peak is about the data plus one piece (not twice the data, as
    ``b"".join`` of the pieces would be).
    """
    pieces, got = [], 0
    while got < nbytes:
        piece = f.read(min(chunk, nbytes - got))
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    out = np.empty(got, dtype=np.uint8)
    at = 0
    pieces.reverse()
    while pieces:
        piece = pieces.pop()
        out[at:at + len(piece)] = np.frombuffer(piece, np.uint8)
        at += len(piece)
        del piece
    return out


def default_file_mode():
    """``0o666 & ~umask``: the permissions ``open(path, "w")`` gives a new file.

    The umask is read from ``/proc/self/status`` where it exists (Linux); elsewhere it is read
    by setting it and restoring it at once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return 0o666 & ~mask


def mkstemp_like_open(directory, prefix, suffix):
    """``tempfile.mkstemp`` in ``directory``, then chmod to :func:`default_file_mode` so the
    file renamed over its target has the permissions a plainly written file would have.

    Returns ``(fd, path)``.
    """
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, default_file_mode())
        else:                                    # pragma: no cover (Windows)
            os.chmod(tmp, default_file_mode())
    except BaseException:
        os.close(fd)
        os.remove(tmp)
        raise
    return fd, tmp
