"""pprof profiles -> profiles, profile_samples, profile_labels, stacks, frame_info (and goroutine snapshots).

One model below every reader, as in google/pprof's ``profile/``:

- :mod:`.profile`: the profile.proto message and its decoder;
- :mod:`.samples`: a profile's samples as flat arrays, a chunk at a time (decoded with NumPy, not a message
  per sample);
- :mod:`.builder`: a message under construction, for the readers of other forms;
- :mod:`.mapping`: memory maps (the mappings legacy profiles end with);
- :mod:`.proto`: profile.proto files, and every decoded profile's rows (``profile_batches``);
- :mod:`.text`: the ``?debug=1`` text profiles;
- :mod:`.legacy`: the binary CPU format and gperftools' threadz.
"""
from __future__ import annotations

from .. import Format
from . import legacy, proto, text


def _legacy(head: bytes) -> str | None:
    return "pprof_legacy" if legacy.binary_cpu_header(head[:40]) else None


PPROF = Format("pprof", "profile.proto, gzipped or not (cpu, heap, allocs, goroutine, block, mutex, custom)",
               sniff=proto.sniff_proto, parse=proto.parse)
PPROF_LEGACY = Format("pprof_legacy", "binary CPU profiles of Go before 1.9 and gperftools",
                      sniff=_legacy, parse=legacy.parse)
PPROF_TEXT = Format("pprof_text", "?debug=1 text profiles (goroutine, threadcreate, heap, mutex, block), threadz",
                    sniff=text.text_profile_kind, parse=text.parse)

FORMATS = (PPROF, PPROF_LEGACY, PPROF_TEXT)
