"""HUB_HOME is private to the user the hub runs as: the directory 0700, every file in it 0600.

It holds the SQLite database and its WAL (raw bodies: phone numbers, e-mail addresses), the
Temporal dev server's database and the secrets store. `prepare_home` runs before any of them
is opened: it sets the process umask to 0o077 (inherited by the pipeline child and the
embedded Temporal dev server, so what they create is private too), creates HUB_HOME 0700 if
it is missing, and refuses to start while HUB_HOME or anything under it is readable or
writable by group or others, naming each path and the `chmod` that fixes it. Nothing is
tightened silently: a file someone else could read may already have been read.

The same rule guards the secrets key file (secrets/file.py) and a SQLite database kept
outside HUB_HOME (storage/engine.py), through `exposure`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

from integration_hub.errors import UnsafeConfiguration

log = structlog.get_logger(__name__)

PRIVATE_UMASK = 0o077  # new files 0600, new directories 0700
GROUP_OR_OTHERS = stat.S_IRWXG | stat.S_IRWXO
PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
MAX_PATHS_NAMED = 5  # a refusal names this many paths, then the one command that fixes all


class UnsafeFileMode(UnsafeConfiguration):
    """HUB_HOME, or a file the hub keeps, is open to group or others: the hub will not start."""

    reason = "unsafe_file_mode"


def restrict_umask() -> int:
    """Make every file this process (and its children) creates from now on private; returns
    the previous umask. Process-wide by nature: call it at start, before any file exists."""
    return os.umask(PRIVATE_UMASK)


def exposure(path: Path, *, bits: int = GROUP_OR_OTHERS, hint: str = "") -> str | None:
    """Why `path` is not private to its owner, with the `chmod` that fixes it; None if it is
    private or does not exist. Follows symbolic links: what matters is what they point at."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    exposed = mode & bits
    if not exposed:
        return None
    directory = stat.S_ISDIR(mode)
    access = [
        word
        for word, granted in [
            ("readable", exposed & (stat.S_IRGRP | stat.S_IROTH)),
            ("writable", exposed & (stat.S_IWGRP | stat.S_IWOTH)),
        ]
        if granted
    ]
    how = " and ".join(access) or ("searchable" if directory else "executable")
    fix = f"chmod {PRIVATE_DIRECTORY_MODE if directory else PRIVATE_FILE_MODE:o} {path}"
    return f"{path} is {how} by others (mode {stat.filemode(mode)}); run `{fix}`{hint}"


def ensure_private_directory(path: Path) -> None:
    """Create `path` (and missing parents) 0700 if it does not exist. An existing directory
    is left as it is: whether it may be used is for the caller's check to say."""
    if path.is_dir():
        return
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
    for created in missing:
        # mkdir's mode passes through the umask; 0700 whatever the umask was when we ran.
        if created.is_dir() and created.stat().st_uid == os.getuid():
            created.chmod(PRIVATE_DIRECTORY_MODE)


def exposed_paths(home: Path) -> list[str]:
    """Every reason HUB_HOME or something under it is open to group or others."""
    problems = [p for p in [exposure(home)] if p is not None]
    # os.walk does not follow symbolic links into directories (no loops, no escaping home);
    # `exposure` still checks what each link points at. Files vanishing mid-walk (SQLite's
    # -shm, a temporary file) are skipped by `exposure` and by os.walk's default onerror.
    for directory, subdirectories, files in os.walk(home):
        for name in sorted(subdirectories) + sorted(files):
            problem = exposure(Path(directory) / name)
            if problem is not None:
                problems.append(problem)
    return problems


def check_home(home: Path) -> None:
    """Raise UnsafeFileMode naming what under `home` group or others may read or write."""
    problems = exposed_paths(home)
    if not problems:
        return
    named = "; ".join(problems[:MAX_PATHS_NAMED])
    more = len(problems) - MAX_PATHS_NAMED
    if more > 0:
        named += f"; and {more} more"
    detail = f"HUB_HOME must be private to its owner: {named}"
    if len(problems) > 1:
        detail += f" (or `chmod -R go= {home}` for all of them)"
    log.error("unsafe_file_mode", home=str(home), paths=len(problems), detail=detail)
    raise UnsafeFileMode(detail)


def prepare_home(home: Path) -> Path:
    """Before the hub creates or opens anything under HUB_HOME: the private umask, HUB_HOME
    created 0700 if missing, and a refusal (UnsafeFileMode) if anything there is not private.
    Returns the absolute HUB_HOME."""
    restrict_umask()
    resolved = home.expanduser().resolve()
    ensure_private_directory(resolved)
    check_home(resolved)
    return resolved
