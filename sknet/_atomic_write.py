"""Writing a file atomically: a hidden temporary file beside it, synced, then renamed.

A reader sees the old file or the new one, never a part of either; an error
(a full disk, Ctrl-C) leaves the old file as it was and removes the
temporary one, and names the user's path, not the temporary one.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from sknet._atomic_write import write_atomically
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> write_atomically(path, {"a": np.arange(3)})
>>> np.load(path)["a"]
array([0, 1, 2])
"""

import contextlib
import errno
import os
import stat

import numpy as np

__all__ = ["write_atomically"]


def write_atomically(path, arrays):
    """Write ``arrays`` as one ``.npz`` archive at ``path``, atomically.

    Parameters
    ----------
    path : str or path-like
        The file; through a symbolic link, the file it points to is replaced.
        A file already there keeps its permissions.
    arrays : dict of str to ndarray
        The archive's members, by name.

    Raises
    ------
    OSError
        Of the same type and errno as the failure, naming ``path``; the
        file already at ``path`` is left as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "arrays.npz")
    >>> write_atomically(path, {"b": np.ones(2)})
    >>> sorted(np.load(path))
    ['b']
    """
    if os.path.isdir(path):
        raise IsADirectoryError(
            errno.EISDIR, "Cannot save the network: this is a directory; give a file path", path
        )
    # Through a symbolic link, the file it points to is replaced, not the link.
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    fd, temporary = _create_temporary(folder, os.path.basename(target), path)
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(OSError):
            # Replacing a file keeps its permissions, as writing into it would.
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _naming(exc, path) from None
        raise
    _fsync_folder(folder)


def _naming(exc, path):
    """``exc`` (of the same type and errno) naming ``path``, not the hidden temporary file.

    The temporary file is an implementation detail: a user who gave ``path``
    looks for that name in the error.
    """
    if exc.errno is None:
        return OSError(f"Cannot save the network to {path!r}: {exc}")
    try:
        return type(exc)(exc.errno, f"Cannot save the network: {exc.strerror}", path)
    except TypeError:  # a subclass with a constructor of its own
        return OSError(exc.errno, f"Cannot save the network: {exc.strerror}", path)


def _temporary_name(folder, base):
    """A fresh hidden name next to ``base`` that fits the folder's longest name.

    ``.{base}.{12 hex digits}.tmp`` when that fits (the base shows whose file
    a leftover was), with the base shortened otherwise: a valid name of up to
    NAME_MAX bytes must still be savable.
    """
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # not POSIX, or no limit known
        name_max = 255
    if name_max is None or name_max < 0:
        name_max = 255
    suffix = f".{os.urandom(6).hex()}.tmp"
    room = max(name_max - 1 - len(suffix), 0)
    # Shortened a character at a time: a multi-byte character is never cut.
    while base and len(os.fsencode(base)) > room:
        base = base[:-1]
    return os.path.join(folder, f".{base}{suffix}")


def _create_temporary(folder, base, path):
    # os.open rather than tempfile.mkstemp: mode 0o666 then goes through the
    # umask, giving a new model file the permissions any new file gets.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temporary = _temporary_name(folder, base)
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise FileNotFoundError(
                errno.ENOENT, "Cannot save the network: the folder does not exist", path
            ) from None
        except OSError as exc:
            raise _naming(exc, path) from None
    raise FileExistsError(
        errno.EEXIST, "Cannot save the network: no temporary file could be created next to", path
    )


def _fsync_folder(folder):
    # Makes the rename itself durable; not possible (nor needed) everywhere.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
