"""Go crash output, goroutine dumps and race reports -> dumps, panics, goroutines, frames, race_accesses.

- :mod:`.restore`: undoes what pipelines, terminals and trackers did to the text (prefixes, spaces for tabs, wraps...);
- :mod:`.scanner`: the dump reader, a line state machine (documented there);
- :mod:`.messages`: its states for what comes above the stacks (panic chains, signals, logged recovered panics);
- :mod:`.scanner_columnar`: its fast path, runs of whole goroutine blocks read column-wise;
- :mod:`.patterns`: the runtime's traceback lines as named patterns, citing the runtime source;
- :mod:`.race`: race-detector reports;
- :mod:`.locations`: package, module and version of a frame, and the stack ids shared with profiles;
- :mod:`.rows`: the scanner's row buffers, interned locations and the dump and goroutine being read.

Any text that no other format claims is read here: dumps hide anywhere.
"""
from __future__ import annotations

from .. import Format
from .scanner import parse

GO_CRASH = Format("go_crash", "Go crash output, goroutine dumps and race reports (any other text)",
                  sniff=lambda head: "go_crash", parse=parse)

FORMATS = (GO_CRASH,)
