"""Which deploy brought the code a symptom runs through.

A service's deploys form a chain of releases. Each release has a module
set (build info, else go.mod, else go.sum; `go` is the toolchain). The
deploy that first brought `module@version` into the service is where that
code came from: a crash, a growing goroutine site or a CPU or heap shift
whose stack runs through it belongs to that deploy, even when other
deploys came between it and the symptom; those are cleared of it.

>>> import pandas as pd
>>> deploys = pd.DataFrame({"ts": pd.to_datetime(["2026-03-14T10:00", "2026-03-14T11:00", "2026-03-14T12:00"]),
...                         "service": "api", "version": ["v1", "v2", "v3"]})
>>> modules = pd.DataFrame({"service": "api", "version": ["v1", "v2", "v3"], "module": "example.com/db",
...                         "module_version": ["v1.0.0", "v1.1.0", "v1.1.0"]})
>>> intro = introductions(deploys, modules, pd.DataFrame())
>>> intro[("api", "example.com/db", "v1.1.0")]
1
>>> owner(["main.handle@", "example.com/db@v1.1.0"], "api", "v3", intro, modules)
(1, 'example.com/db', 'v1.1.0')
"""
from __future__ import annotations

import pandas as pd


def _release_modules(modules: pd.DataFrame) -> dict[tuple[str, str], dict[str, str]]:
    """(service, release) -> {module: version}."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    if modules is None or modules.empty:
        return out
    for r in modules.itertuples(index=False):
        if isinstance(r.module, str) and isinstance(r.module_version, str):
            out.setdefault((r.service, r.version), {})[r.module] = r.module_version
    return out


def introductions(deploys: pd.DataFrame, modules: pd.DataFrame, changes: pd.DataFrame) -> dict:
    """(service, module, version) -> index (in `deploys`, sorted by ts per
    service) of the deploy that first brought that module version in.
    Releases whose module set is unknown fall back on the `changes` rows
    (upgrades) of their deploy."""
    sets = _release_modules(modules)
    intro: dict = {}
    if deploys is None or deploys.empty:
        return intro
    for service, group in deploys.sort_values("ts").groupby("service", sort=False):
        for idx, row in group.iterrows():
            have = sets.get((service, row["version"]))
            if have is None and changes is not None and not changes.empty:
                mine = changes[(changes["service"] == service) & (changes["ts"] == row["ts"])
                               & changes["kind"].isin(["module", "go"])]
                have = {(m if k == "module" else "go"): v for k, m, v in
                        zip(mine["kind"], mine["module"], mine["to_version"]) if isinstance(v, str)}
            for module, version in (have or {}).items():
                intro.setdefault((service, module, version), idx)
    return intro


def split(module_at: str) -> tuple[str, str | None]:
    """`module@version` -> (module, version or None)."""
    module, _, version = module_at.rpartition("@") if "@" in module_at else (module_at, "", "")
    return module, version or None


def owner(stack_modules, service: str, release: str, intro: dict, modules: pd.DataFrame | dict | None
          ) -> tuple[int, str, str] | None:
    """(deploy index, module, version) of the innermost module on a stack
    (`module@version` per frame, innermost first) that a deploy of
    `service` is known to have brought in; a frame without a version takes
    the module's version in `release`. None when no frame's module is one."""
    sets = modules if isinstance(modules, dict) else _release_modules(modules)
    mine = sets.get((service, release), {})
    for entry in stack_modules if stack_modules is not None else ():
        if not isinstance(entry, str) or not entry:
            continue
        module, version = split(entry)
        version = version or mine.get(module)
        if version is None:
            continue
        found = intro.get((service, module, version))
        if found is not None:
            return found, module, version
    return None


def stack_modules(functions, modules) -> list[str]:
    """The `module@version` entries of a stack, innermost first; functions
    stand in (as their package path) where no module was derived."""
    out = []
    mods = list(modules) if modules is not None and not isinstance(modules, float) else []
    for i, fn in enumerate(list(functions) if functions is not None and not isinstance(functions, float) else []):
        m = mods[i] if i < len(mods) else None
        if isinstance(m, str) and m:
            out.append(m)
        elif isinstance(fn, str):
            out.append(package(fn) + "@")
    out += [m for m in mods[len(out):] if isinstance(m, str) and m]
    return out


def package(function: str) -> str:
    """The import path of a Go function's package: `a.b/c/d.(*T).M` -> `a.b/c/d`."""
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    return function[:dot] if dot > 0 else function


def module_prefixes(entries: list[str], service: str, release: str, modules) -> list[str]:
    """Module-less entries (`pkg@`) resolved to the release's module that
    holds that package (the longest module path prefix), versions filled in."""
    sets = modules if isinstance(modules, dict) else _release_modules(modules)
    mine = sets.get((service, release), {})
    out = []
    for entry in entries:
        if not isinstance(entry, str) or not entry:
            continue
        module, version = split(entry)
        if version is None:
            best = max((m for m in mine if module == m or module.startswith(m + "/")), key=len, default=None)
            if best is None:
                continue
            module, version = best, mine[best]
        out.append(f"{module}@{version}")
    return out
