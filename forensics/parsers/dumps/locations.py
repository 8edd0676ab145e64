"""Where a Go frame is: naming conventions shared by every parser of Go stacks.

A stack frame carries a symbol name (``github.com/acme/x.(*T).M``) and a file
path. From those two strings this module derives what postmortem queries
group by: the Go package, the module and its version, and whether the frame
is standard library. It also gives frames and stacks their ids
(:func:`stack_hash`), the same in goroutine dumps and profiles.

>>> loc = describe("github.com/acme/ratelimit.(*Limiter).Do",
...                "/go/pkg/mod/github.com/acme/ratelimit@v1.5.0/limiter.go")
>>> loc.package, loc.module, loc.module_version, loc.is_stdlib
('github.com/acme/ratelimit', 'github.com/acme/ratelimit', 'v1.5.0', False)
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import NamedTuple

import numpy as np

# Top-level path elements of `go list std` for Go 1.19 and 1.27 (plus the
# std-vendored `vendor/` tree). A package whose first element is one of these
# and has no dot is standard library.
STDLIB_ROOTS = frozenset(
    "archive bufio bytes cmp compress container context crypto database debug embed "
    "encoding errors expvar flag fmt go hash html image index internal io iter log maps "
    "math mime net os path plugin reflect regexp runtime slices sort strconv strings "
    "structs sync syscall testing text time unicode unique unsafe uuid vendor weak".split()
)

# Module cache layout (cmd/go/internal/modfetch): $GOMODCACHE/<escaped path>@<version>/<file>.
# -trimpath builds print the same "<path>@<version>/<file>" without the cache prefix.
MODCACHE_RE = re.compile(r"(?:^|/pkg/mod/)((?:[^/@]+/)*[^/@]+)@(v[^/]+)/")
# Vendored dependencies: <main module>/vendor/<import path>/<file>.
VENDOR_RE = re.compile(r"(?:^|/)vendor/(.+)/[^/]+$")
# Hosting sites whose module path is exactly host/owner/repo (the go command's
# own rule for these sites in cmd/go/internal/vcs).
THREE_ELEMENT_HOSTS = ("github.com/", "gitlab.com/", "bitbucket.org/", "golang.org/x/", "go.googlesource.com/")
# A GOROOT source path: .../src/<stdlib package>/<file>.
GOROOT_RE = re.compile(r"(?:^|/)src/([^/]+)/")


class Location(NamedTuple):
    function: str
    package: str | None
    file: str | None
    module: str | None
    module_version: str | None
    is_stdlib: bool


def package_of(function: str) -> str | None:
    """The import path of the package a Go symbol belongs to.

    The linker escapes dots in the last path element as %2e, so the package
    ends at the first dot after the last slash (runtime/symtab.go funcpkgpath).

    >>> package_of("gopkg.in/yaml%2ev3.(*decoder).unmarshal")
    'gopkg.in/yaml.v3'
    >>> package_of("main.main.func1")
    'main'
    >>> package_of("panic") is None
    True
    """
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    if dot <= 0:
        return None
    return function[:dot].replace("%2e", ".")


def unescape_module_path(path: str) -> str:
    """Undo the module cache's case escaping ("!a" stands for "A").

    >>> unescape_module_path("github.com/!azure/azure-sdk-for-go")
    'github.com/Azure/azure-sdk-for-go'
    """
    if "!" not in path:
        return path
    return re.sub(r"!([a-z])", lambda m: m.group(1).upper(), path)


def is_stdlib_package(package: str | None) -> bool:
    if not package:
        return False
    root = package.split("/", 1)[0]
    return "." not in root and root in STDLIB_ROOTS


def _vendor_module(import_path: str) -> str:
    for host in THREE_ELEMENT_HOSTS:
        if import_path.startswith(host):
            parts = import_path.split("/")
            depth = host.count("/") + 2
            return "/".join(parts[:depth])
    return import_path


def _in_goroot(file: str) -> bool:
    """A GOROOT source file: .../src/<std root>/..., or <std root>/... under -trimpath."""
    m = GOROOT_RE.search(file)
    root = m.group(1) if m else file.split("/", 1)[0]
    return root in STDLIB_ROOTS


@lru_cache(maxsize=65536)
def describe(function: str, file: str | None) -> Location:
    """Derive package, module, version and stdlib-ness of one frame.

    >>> describe("github.com/acme/x/y.F", "/src/app/vendor/github.com/acme/x/y/z.go").module
    'github.com/acme/x'
    >>> describe("runtime.gopark", "/usr/local/go/src/runtime/proc.go").is_stdlib
    True
    """
    package = package_of(function)
    if package is None:  # builtins such as panic(): only the file can tell
        return Location(function, None, file, None, None, bool(file) and _in_goroot(file))
    if is_stdlib_package(package):
        return Location(function, package, file, None, None, True)
    module = version = None
    if file:
        m = MODCACHE_RE.search(file)
        if m:
            module, version = unescape_module_path(m.group(1)), m.group(2)
        else:
            v = VENDOR_RE.search(file)
            if v:
                module = _vendor_module(v.group(1))
    return Location(function, package, file, module, version, False)


# --- frame and stack identity, shared with profiles ---------------------------

def frame_key(function: str | None, file: str | None, line: int | None, address: int = 0,
              binary: str | None = None) -> str:
    """What identifies a frame in a stack hash (binary and address when unsymbolized)."""
    return f"{function}\t{file}\t{line}" if function else f"{binary or ''}@{address:x}"


# Stack ids fold per-frame hashes leaf first, Horner-style modulo 2**64:
# h = h * STACK_MULT + frame_hash. A fold can be continued, so a profile
# location (several inlined frames) folds into (M**k, partial hash) once and
# stacks of locations fold with NumPy, column-wise (fold_stacks).
STACK_MULT = 0x9E3779B97F4A7C15  # odd: multiplication mod 2**64 is invertible
_MASK = (1 << 64) - 1


def frame_hash(key: str) -> int:
    """64-bit hash of one frame key (unsigned)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def fold(hashes, start: int = 0) -> int:
    """Continue the stack fold over frame hashes (unsigned 64-bit)."""
    h = start
    for fh in hashes:
        h = (h * STACK_MULT + fh) & _MASK
    return h


def stack_id_of(folded: int) -> int:
    """The signed stack id of a non-empty stack's fold (never 0)."""
    return (folded - (1 << 64) if folded >= 1 << 63 else folded) or 1


def stack_hash(frame_keys: list[str]) -> int:
    """Stack id shared by goroutine and profile stacks: a fold of the frame
    keys' hashes, leaf first; 0 is the empty stack and no other stack gets 0."""
    if not frame_keys:
        return 0
    return stack_id_of(fold(frame_hash(k) for k in frame_keys))


def fold_stacks(mult: np.ndarray, add: np.ndarray, items: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Stack ids of many stacks at once: stack i is items[o_i:o_i+lengths[i]]
    (indexes into mult/add, each item a run of frames folded as h*mult+add).
    Equal to stack_hash of the stacks' frame keys; 0 for empty stacks."""
    n = len(lengths)
    h = np.zeros(n, dtype=np.uint64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if n else np.zeros(0, np.int64)
    with np.errstate(over="ignore"):
        for depth in range(int(lengths.max()) if n else 0):
            live = np.nonzero(lengths > depth)[0]
            item = items[starts[live] + depth]
            h[live] = h[live] * mult[item] + add[item]
    ids = h.view(np.int64).copy()
    ids[(ids == 0) & (lengths > 0)] = 1
    return ids
