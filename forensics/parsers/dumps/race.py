"""Data race reports from the race detector, inside the crash-dump parser.

A report sits between two ``==================`` banners: the racing
accesses (``Read at 0x.. by goroutine 7:``), each with a stack, and where the
goroutines were created (``Goroutine 7 (running) created at:``), frames
indented by two spaces and their files by six (compiler-rt tsan_report.cpp,
Go flavour). Each access stack becomes a goroutines row with its frames and a
race_accesses row.
"""
from __future__ import annotations

from .patterns import RACE_ACCESS_RE, RACE_BANNER, RACE_CREATED_RE, RACE_FILE_RE, TRIGGERS, is_machinery


class RaceReports:
    """Mixin of the crash-dump parser: the RACE state."""

    def _race(self, line: str) -> None:
        d = self.dump
        d.end_line = self.lineno
        if line == RACE_BANNER:
            self.end_dump()
            self.state = self._text
            return
        if not line:
            return
        if line.startswith(TRIGGERS) and not line.startswith("SIG"):
            # The start of another dump (a goroutine header, a panic) ends a
            # report cut short, even inside a stack waiting for its file line.
            self.error(f"race report cut short: not closed by {RACE_BANNER!r} before this line", line)
            self.end_dump()
            self.state = self._text
            self._text(line)
            return
        sec = d.race_section
        if sec is not None and (line[0] in " \t" or sec["pending"] is not None or line[-1] == ")"):
            # Frames are indented by two blanks and their files by six; pastes
            # and editors change both, so the line's shape decides.
            m = RACE_FILE_RE.match(line) if sec["pending"] is not None else None
            if m:
                func, args, inlined = sec["pending"]
                sec["pending"] = None
                sec["frames"].append((func, m.group(1), int(m.group(2)), args, int(m.group(3), 16) if m.group(3) else None, inlined))
                return
            hit = self.parse_func(line.strip())
            if hit is not None:
                sec["pending"] = hit
                return
        else:
            m = RACE_ACCESS_RE.match(line)
            if m:
                prev, op, addr, gid, main = m.groups()
                d.race_section = {"gid": 1 if main else int(gid), "frames": [], "pending": None, "state": None}
                d.race_goroutines.append(d.race_section)
                d.race_accesses.append((len(d.race_goroutines) - 1, op.lower(), addr, bool(prev)))
                return
            m = RACE_CREATED_RE.match(line)
            if m:
                gid = int(m.group(1))
                for rg in d.race_goroutines:
                    if rg["gid"] == gid:
                        rg["state"] = m.group(2)
                d.race_section = {"created_of": gid, "frames": [], "pending": None}
                d.race_created.append(d.race_section)
                return
            if line.startswith("Location is "):
                # "... allocated by goroutine N:" has a stack of its own: read
                # it (so it raises no errors) and keep none of it.
                d.race_section = {"frames": [], "pending": None} if line.endswith(":") else None
                return
        self.error("unexpected line in race report", line)

    def end_race(self, d) -> None:
        """Race goroutines become goroutines/frames rows; accesses race_accesses rows."""
        created = {s["created_of"]: s for s in d.race_created}
        seq_of = {}
        for i, rg in enumerate(d.race_goroutines):
            gid = rg["gid"]
            self.start_goroutine(gid, rg["state"], None, False, None, None)
            g = self.g
            c = created.get(gid)
            if c and c["frames"]:
                g.created_by, g.created_file, g.created_line = c["frames"][0][0], c["frames"][0][1], c["frames"][0][2]
            for func, file, line, args, offset, inlined in rg["frames"]:
                self.add_frame(g, func, file, line, args, offset, inlined)
            seq_of[i] = self.gseq
            self.end_goroutine()
        # top_function: the current access; signature: both accesses' tops in a
        # fixed order, since the detector may report either access first.
        tops = []
        for rg in d.race_goroutines:
            funcs = [f[0] for f in rg["frames"] if not is_machinery(f[0])]
            tops.append(funcs[0] if funcs else None)
        if d.race_goroutines:
            d.failing = (d.race_goroutines[0]["gid"], [t for t in tops[:1] if t])
            d.sig_functions = sorted({t for t in tops if t})
            ops = [a[1] for a in d.race_accesses]
            d.panics[0][1] = ["DATA RACE: " + " / ".join(ops)] if ops else d.panics[0][1]
        for seq, (gi, op, addr, prev) in enumerate(d.race_accesses):
            self.accesses.add(d.idx, seq, seq_of.get(gi), d.race_goroutines[gi]["gid"], op, addr, prev)
