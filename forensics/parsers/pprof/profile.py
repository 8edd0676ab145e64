"""Decoding ``profile.proto`` (pprof) with the protobuf library.

The message classes are built at import from a descriptor assembled here:
field numbers and types follow github.com/google/pprof/proto/profile.proto
(the copy vendored in Go's cmd/vendor/github.com/google/pprof/profile/encode.go
names each field with its number). ``string_table`` is read as bytes: a
string table that is not UTF-8 must not make the whole profile unreadable.

>>> p = decode(Profile(string_table=[b"", b"samples", b"count"],
...                    sample_type=[ValueType(type=1, unit=2)]).SerializeToString())
>>> p.strings[1:], p.msg.sample_type[0].type
(['samples', 'count'], 1)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from ...errors import ParseError
from . import samples as sample_arrays
from .samples import Samples, decode_chunk, from_messages

_F = descriptor_pb2.FieldDescriptorProto
_INT64, _UINT64, _BOOL, _BYTES, _MSG = _F.TYPE_INT64, _F.TYPE_UINT64, _F.TYPE_BOOL, _F.TYPE_BYTES, _F.TYPE_MESSAGE
_ONE, _MANY = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# message -> [(field, number, type, repeated, message type)]
_MESSAGES = {
    "Profile": [
        ("sample_type", 1, _MSG, True, "ValueType"), ("sample", 2, _MSG, True, "Sample"),
        ("mapping", 3, _MSG, True, "Mapping"), ("location", 4, _MSG, True, "Location"),
        ("function", 5, _MSG, True, "Function"), ("string_table", 6, _BYTES, True, None),
        ("drop_frames", 7, _INT64, False, None), ("keep_frames", 8, _INT64, False, None),
        ("time_nanos", 9, _INT64, False, None), ("duration_nanos", 10, _INT64, False, None),
        ("period_type", 11, _MSG, False, "ValueType"), ("period", 12, _INT64, False, None),
        ("comment", 13, _INT64, True, None), ("default_sample_type", 14, _INT64, False, None),
    ],
    "ValueType": [("type", 1, _INT64, False, None), ("unit", 2, _INT64, False, None)],
    "Sample": [("location_id", 1, _UINT64, True, None), ("value", 2, _INT64, True, None),
               ("label", 3, _MSG, True, "Label")],
    "Label": [("key", 1, _INT64, False, None), ("str", 2, _INT64, False, None), ("num", 3, _INT64, False, None),
              ("num_unit", 4, _INT64, False, None)],
    "Mapping": [("id", 1, _UINT64, False, None), ("memory_start", 2, _UINT64, False, None),
                ("memory_limit", 3, _UINT64, False, None), ("file_offset", 4, _UINT64, False, None),
                ("filename", 5, _INT64, False, None), ("build_id", 6, _INT64, False, None),
                ("has_functions", 7, _BOOL, False, None), ("has_filenames", 8, _BOOL, False, None),
                ("has_line_numbers", 9, _BOOL, False, None), ("has_inline_frames", 10, _BOOL, False, None)],
    "Location": [("id", 1, _UINT64, False, None), ("mapping_id", 2, _UINT64, False, None),
                 ("address", 3, _UINT64, False, None), ("line", 4, _MSG, True, "Line"),
                 ("is_folded", 5, _BOOL, False, None)],
    "Line": [("function_id", 1, _UINT64, False, None), ("line", 2, _INT64, False, None),
             ("column", 3, _INT64, False, None)],
    "Function": [("id", 1, _UINT64, False, None), ("name", 2, _INT64, False, None),
                 ("system_name", 3, _INT64, False, None), ("filename", 4, _INT64, False, None),
                 ("start_line", 5, _INT64, False, None)],
}
# The same message with each sample left encoded (bytes on the wire, as a
# message is), for the vectorised sample decoder (:mod:`.samples`).
# Its time_nanos is repeated: two of them are two profiles written one after
# the other (see second_time_nanos).
_MESSAGES["RawProfile"] = [("sample", 2, _BYTES, True, None) if f[0] == "sample" else
                           ("time_nanos", 9, _INT64, True, None) if f[0] == "time_nanos" else f
                           for f in _MESSAGES["Profile"]]
_PACKAGE = "forensics.pprof"


def _classes() -> dict:
    fdp = descriptor_pb2.FileDescriptorProto(name="forensics/pprof/profile.proto", package=_PACKAGE, syntax="proto3")
    for name, fields in _MESSAGES.items():
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, repeated, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=_MANY if repeated else _ONE)
            if type_name:
                f.type_name = f".{_PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
            for name in _MESSAGES}


_CLASSES = _classes()
Profile = _CLASSES["Profile"]
RawProfile = _CLASSES["RawProfile"]
Sample = _CLASSES["Sample"]
ValueType = _CLASSES["ValueType"]


@dataclass
class Decoded:
    msg: object  # the Profile message, or a RawProfile (its samples still encoded)
    strings: list[str]

    def sample_chunks(self) -> Iterator[Samples]:
        """The samples, CHUNK_SAMPLES at a time: a big profile's flat arrays
        never exist whole. Encoded samples are read with NumPy; a chunk
        encoded in a way that decoder leaves to protobuf is parsed by it,
        and a sample protobuf cannot parse is a ParseError naming it."""
        field, raw, step = self.msg.sample, isinstance(self.msg, RawProfile), sample_arrays.CHUNK_SAMPLES
        for lo in range(0, len(field), step):
            part = field[lo:lo + step]
            fast = decode_chunk(part, lo) if raw else None
            yield fast if fast is not None else from_messages(_messages(part, lo) if raw else part, lo)

    @property
    def time_nanos(self) -> int:
        t = self.msg.time_nanos
        return t if isinstance(t, int) else (t[-1] if len(t) else 0)

    def s(self, index: int, what: str) -> str:
        """String-table entry `index`, or a ParseError naming the field."""
        if 0 <= index < len(self.strings):
            return self.strings[index]
        raise ParseError(f"{what} refers to string {index}, but the string table has {len(self.strings)} entries")


def varint(data: bytes, i: int) -> tuple[int, int]:
    """(value, next offset) of the protobuf varint at data[i]; ValueError if bad."""
    value = shift = 0
    while i < len(data):
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def second_time_nanos(data: bytes) -> int | None:
    """Offset of a second time_nanos field (9) at the top level, as two
    profiles written one after the other have, else None. pprof refuses
    such input ("concatenated profiles detected"), where protobuf alone
    would merge the two into one wrong profile."""
    i, seen = 0, False
    try:
        while i < len(data):
            at = i
            tag, i = varint(data, i)
            number, wire = tag >> 3, tag & 7
            if wire == 0:
                _, i = varint(data, i)
            elif wire == 2:
                length, i = varint(data, i)
                i += length
            elif wire in (1, 5):
                i += 8 if wire == 1 else 4
            else:
                return None  # not a valid message: the decoder says so
            if number == 9:
                if seen:
                    return at
                seen = True
    except ValueError:
        return None
    return None


def _messages(encoded, first: int) -> list:
    """Encoded samples parsed by protobuf; a ParseError for one it cannot parse."""
    out = []
    for i, data in enumerate(encoded):
        try:
            out.append(Sample.FromString(data))
        except DecodeError as exc:
            raise ParseError(f"sample {first + i} ({len(data)} bytes) is not a valid profile.proto Sample: {exc}"
                             ) from exc
    return out


def decode(data: bytes) -> Decoded:
    """Parse one uncompressed profile.proto; ParseError says what is wrong.
    The samples stay encoded (:meth:`Decoded.sample_chunks` reads them)."""
    msg = RawProfile()
    try:
        msg.ParseFromString(data)
        raw = len(msg.time_nanos) <= 1
    except DecodeError:
        raw = False  # the full decoder says what is wrong
    if not raw:
        second = second_time_nanos(data)
        if second is not None:
            raise ParseError(f"concatenated profiles detected: a second profile starts near byte {second} of "
                             f"{len(data)} (time_nanos again); write one profile per file")
        msg = Profile()
        try:
            msg.ParseFromString(data)
        except DecodeError as exc:
            raise ParseError(f"not a valid profile.proto ({len(data)} bytes): {exc}") from exc
    strings = [b.decode("utf-8", "replace") for b in msg.string_table]
    if not strings or strings[0] != "":
        first = repr(strings[0]) if strings else "missing"
        raise ParseError(f"string table must start with the empty string; its first entry is {first}")
    return Decoded(msg, strings)
