"""A linear-time check of a pickle's opcodes before the C unpickler sees it.

It refuses opcodes a saved state dict never needs and memo indices beyond the pickle's length
(a memo index makes the C unpickler allocate a table of that size, so one 5-byte opcode could
ask for gigabytes). Runs of fixed-length opcodes, which are almost all of a large pickle, are
skipped by one compiled regular expression; only opcodes with a length-prefixed or
newline-terminated argument are stepped through in Python. Nothing is decoded or built.
"""
import re
import struct


class OpcodeError(Exception):
    """The pickle uses a refused opcode or a bad memo index, or is truncated or corrupt."""


# Opcodes that build instances of classes (INST, OBJ, NEWOBJ, NEWOBJ_EX), fetch globals from
# copyreg's registry (EXT1/2/4), use a text persistent id (PERSID) or need out-of-band buffers.
_REFUSED = {
    b"i": "INST", b"o": "OBJ", b"\x81": "NEWOBJ", b"\x92": "NEWOBJ_EX", b"\x82": "EXT1",
    b"\x83": "EXT2", b"\x84": "EXT4", b"P": "PERSID", b"\x97": "NEXT_BUFFER", b"\x98": "READONLY_BUFFER",
}
# Opcodes without argument (STOP excluded: it ends the scan) and with fixed-size arguments.
_NO_ARGUMENT = b"(012N\x88\x89})]t\x85\x86\x87ldaesuRbQ\x94\x8f\x90\x91\x93"
_FIXED = (
    b"K.|M..|J....|G........|h.|j....|q.|\x80.|\x95........"
)
# Length-prefixed arguments: opcode -> (length format, length size).
_PREFIXED = {
    b"\x8c": ("<B", 1), b"U": ("<B", 1), b"C": ("<B", 1), b"\x8a": ("<B", 1),
    b"X": ("<I", 4), b"T": ("<i", 4), b"B": ("<I", 4), b"\x8b": ("<i", 4),
    b"\x8d": ("<Q", 8), b"\x8e": ("<Q", 8), b"\x96": ("<Q", 8),
}
# Newline-terminated arguments: opcode -> number of lines.
_LINES = {b"I": 1, b"L": 1, b"F": 1, b"S": 1, b"V": 1, b"g": 1, b"p": 1, b"c": 2}


def _below_power_of_two_le32(bits: int) -> bytes:
    """A pattern for 4 little-endian bytes holding a value below ``2**bits``."""
    bits = max(1, min(bits, 32))
    full, partial = divmod(bits, 8)
    pattern = b"." * full
    if partial:
        pattern += b"[\\x00-" + re.escape(bytes([(1 << partial) - 1])) + b"]"
    return pattern + b"\\x00" * (4 - full - (1 if partial else 0))


def _run_pattern(bits: int):
    alternatives = b"[" + re.escape(_NO_ARGUMENT) + b"]|" + _FIXED + b"|r" + _below_power_of_two_le32(bits)
    # Possessive: the alternatives start with distinct bytes, so no backtracking is ever needed.
    return re.compile(b"(?:" + alternatives + b")*+", re.DOTALL)


_RUNS = {}


def scan(data: bytes) -> None:
    """Check every opcode of the pickle ``data`` up to its STOP.

    Memo indices must stay below ``2 ** data_size_bits`` (at most twice the data's length): a
    pickler numbers its memo entries from 0, one per memoising opcode.

    Raises:
        OpcodeError: a refused opcode, an out-of-range memo index, an unknown opcode, an
            argument reaching past the end, or no STOP.
    """
    bits = max(len(data), 1).bit_length()
    limit = 1 << bits
    run = _RUNS.get(bits)
    if run is None:
        run = _RUNS[bits] = _run_pattern(bits)
    view = memoryview(data)
    size = len(data)
    position = 0
    while True:
        position = run.match(data, position).end()
        if position >= size:
            raise OpcodeError("it ends without a STOP opcode (truncated)")
        opcode = data[position : position + 1]
        start = position
        position += 1
        if opcode == b".":
            return
        if opcode in _PREFIXED:
            layout, width = _PREFIXED[opcode]
            if position + width > size:
                raise OpcodeError(f"the argument length of the opcode at byte {start} is cut off (truncated)")
            (length,) = struct.unpack_from(layout, view, position)
            if length < 0:
                raise OpcodeError(f"the opcode at byte {start} has the negative length {length}")
            position += width + length
            if position > size:
                raise OpcodeError(
                    f"the opcode at byte {start} announces {length} bytes, past the end of the pickle (truncated)"
                )
        elif opcode in _LINES:
            lines = []
            for _ in range(_LINES[opcode]):
                end = data.find(b"\n", position)
                if end < 0:
                    raise OpcodeError(f"the text argument of the opcode at byte {start} has no end (truncated)")
                lines.append(data[position:end])
                position = end + 1
            if opcode == b"p":
                _check_memo_index(lines[0], limit, start)
        elif opcode == b"r":
            if position + 4 > size:
                raise OpcodeError(f"the memo index at byte {start} is cut off (truncated)")
            (index,) = struct.unpack_from("<I", view, position)
            raise OpcodeError(f"the memo index {index} at byte {start} is out of range for a {size}-byte pickle")
        elif opcode in _REFUSED:
            raise OpcodeError(
                f"it uses the opcode {_REFUSED[opcode]} at byte {start}, which builds arbitrary objects "
                "and never appears in a saved state dict (a whole pickled module does this: save and load "
                "model.state_dict() instead); the file was refused"
            )
        elif opcode and opcode[0] in _FIXED_OPCODE_BYTES:
            raise OpcodeError(f"the opcode at byte {start} is cut off (truncated)")
        else:
            raise OpcodeError(f"byte {start} holds {opcode!r}, which is not a pickle opcode")


_FIXED_OPCODE_BYTES = frozenset(b"KMJGhjq\x80\x95")


def _check_memo_index(text: bytes, limit: int, position: int) -> None:
    try:
        index = int(text)
    except ValueError:
        raise OpcodeError(f"the memo index {text[:40]!r} at byte {position} is not a number") from None
    if not 0 <= index < limit:
        raise OpcodeError(f"the memo index {index} at byte {position} is out of range")
