"""A profile.proto message under construction, for the readers of other forms.

The text and legacy readers build the same message that profile.proto holds
(:mod:`.profile`), so every form of a profile lands in the same rows through
:func:`forensics.parsers.pprof.proto.profile_batches`.

>>> b = ProfileBuilder()
>>> b.types(("samples", "count"), 1, ("samples", "count"))
>>> b.sample([3], [0x1001], [], {}, {})
>>> [hex(loc.address) for loc in b.decoded().msg.location]
['0x1000']
"""
from __future__ import annotations

from .profile import Decoded, Profile


class ProfileBuilder:
    """A profile.proto message under construction: interned strings,
    functions and locations."""

    def __init__(self):
        self.msg = Profile()
        self.strings: dict[str, int] = {}
        self.functions: dict[tuple[str, str], int] = {}
        self.locations: dict[tuple, int] = {}
        self.s("")

    def s(self, text: str) -> int:
        idx = self.strings.get(text)
        if idx is None:
            idx = self.strings[text] = len(self.strings)
            self.msg.string_table.append(text.encode())
        return idx

    def location(self, address: int, function: str | None = None, file: str = "", line: int = 0) -> int:
        key = (address, function, file, line)
        lid = self.locations.get(key)
        if lid is None:
            lid = self.locations[key] = len(self.locations) + 1
            loc = self.msg.location.add(id=lid, address=address)
            if function is not None:
                fkey = (function, file)
                fid = self.functions.get(fkey)
                if fid is None:
                    fid = self.functions[fkey] = len(self.functions) + 1
                    self.msg.function.add(id=fid, name=self.s(function), system_name=self.s(function),
                                          filename=self.s(file))
                loc.line.add(function_id=fid, line=line)
        return lid

    def types(self, period_type: tuple[str, str], period: int, *types: tuple[str, str]) -> None:
        self.msg.period_type.type, self.msg.period_type.unit = self.s(period_type[0]), self.s(period_type[1])
        self.msg.period = period
        for t, u in types:
            self.msg.sample_type.add(type=self.s(t), unit=self.s(u))

    def sample(self, values: list[int], addresses: list[int], symbols: list[tuple], labels: dict, num: dict,
               adjust: bool = True) -> None:
        if symbols:
            locs = [self.location(*sym) for sym in symbols]
        else:  # unsymbolized: pprof moves each return address back onto its call
            locs = [self.location((a - 1) % (1 << 64) if adjust else a) for a in addresses]
        sample = self.msg.sample.add(location_id=locs, value=values)
        for k, v in labels.items():
            sample.label.add(key=self.s(k), str=self.s(v))
        for k, v in num.items():
            sample.label.add(key=self.s(k), num=v)

    def decoded(self) -> Decoded:
        return Decoded(self.msg, list(self.strings))
