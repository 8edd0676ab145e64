"""The parent's side: worker processes, each case under a time and a memory bound.

Each :class:`Worker` is a ``python -m fuzz.worker`` process in its own session, with its own
root directory (TMPDIR, HOME and cwd inside it), fed one case at a time. A case with no result
after ``timeout`` seconds is a hang: the worker's process group is killed and a new worker takes
the next case. A worker that dies (a crash in native code, the kernel's OOM killer) fails the case
it was running. A case after which the worker's peak RSS is over ``rss_mb`` fails, naming it, and
the worker is replaced so the next case starts from a fresh baseline.
"""
from __future__ import annotations

import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


class WorkerGone(Exception):
    pass


class Worker:
    def __init__(self, root: Path, timeout: float = 60.0, rss_mb: float = 1024.0, recycle: int = 250):
        self.root, self.timeout, self.rss_mb, self.recycle = root, timeout, rss_mb, recycle
        self.proc: subprocess.Popen | None = None
        self.buf = b""
        self.done = 0
        self.starts = 0

    def start(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        for d in ("tmp", "home", "cwd"):
            (self.root / d).mkdir(parents=True)
        env = dict(os.environ)
        env.update(TMPDIR=str(self.root / "tmp"), HOME=str(self.root / "home"), PYTHONDONTWRITEBYTECODE="1",
                   PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
        self.log = open(self.root.parent / f"{self.root.name}.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "fuzz.worker", str(self.root)], cwd=self.root / "cwd",
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     start_new_session=True)
        self.buf = b""
        self.done = 0
        self.starts += 1
        ready = self._line(300)
        if ready is None or "ready" not in ready:
            self.stop()
            raise RuntimeError(f"the fuzz worker did not start: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.proc = None
            self.log.close()

    def log_tail(self, n: int = 1500) -> str:
        try:
            data = (self.root.parent / f"{self.root.name}.log").read_bytes()
        except OSError:
            return ""
        return data[-n:].decode("utf-8", "replace")

    def _line(self, timeout: float) -> dict | None:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise WorkerGone()
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def run(self, case: dict) -> dict:
        if self.proc is None or self.done >= self.recycle:
            self.stop()
            self.start()
        t0 = time.monotonic()
        failure = None
        try:
            self.proc.stdin.write((json.dumps(case) + "\n").encode())
            self.proc.stdin.flush()
            result = self._line(self.timeout)
        except (WorkerGone, BrokenPipeError):
            rc = self.proc.wait()
            how = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
            failure = f"the worker died running it ({how}): {self.log_tail()}"
            result = None
        if result is None:
            if failure is None:
                failure = f"hang: no result after {self.timeout:.0f} s; killed"
            self.stop()
            result = {"id": case["id"], "category": case["category"], "format": case.get("format", ""),
                      "recipe": "", "statuses": [],
                      "violations": [failure], "seconds": round(time.monotonic() - t0, 3), "maxrss_mb": None}
            return result
        self.done += 1
        if result.get("maxrss_mb") and result["maxrss_mb"] > self.rss_mb:
            result["violations"].append(f"peak RSS {result['maxrss_mb']:.0f} MB, over {self.rss_mb:.0f} MB")
            self.stop()
        return result


class Pool:
    """`n` workers under `root`; :meth:`run_all` spreads cases over them, :meth:`run` uses the first."""

    def __init__(self, root: Path, n: int = 2, timeout: float = 60.0, rss_mb: float = 1024.0, recycle: int = 250):
        root.mkdir(parents=True, exist_ok=True)
        self.workers = [Worker(root / f"w{i}", timeout, rss_mb, recycle) for i in range(n)]
        self.lock = threading.Lock()

    def run(self, case: dict) -> dict:
        with self.lock:
            return self.workers[0].run(case)

    def run_all(self, cases: list[dict], progress=None) -> list[dict]:
        todo: queue.Queue = queue.Queue()
        for i, c in enumerate(cases):
            todo.put((i, c))
        results: list[dict | None] = [None] * len(cases)
        errors: list[BaseException] = []

        def drain(worker: Worker) -> None:
            while True:
                try:
                    i, c = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[i] = worker.run(c)
                except BaseException as exc:  # noqa: BLE001 - a worker that cannot start: stop all
                    errors.append(exc)
                    return
                if progress:
                    progress(results[i])

        threads = [threading.Thread(target=drain, args=(w,), daemon=True) for w in self.workers]
        with self.lock:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        return results

    def close(self) -> None:
        for w in self.workers:
            w.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
