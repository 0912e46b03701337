"""Values that cross between the tests and the candidate: builtin data only.

encode() accepts exactly None, bool, int, float, complex, str, bytes and lists,
tuples, dicts, sets and frozensets of them (no subclasses: an int whose __eq__
says yes to everything is not an int), and gives JSON-ready values in which every
JSON object is a one-key tag for a type JSON lacks. decode() rebuilds only
those builtin types from parsed JSON; anything else raises NotPlain. The side
that decodes never runs code of the side that encoded.

Standard library only: its source is prepended to the sides' runners
(tests_side.py, candidate_side.py) inside the sandbox.
"""

MAX_DEPTH = 64
_SCALARS = (type(None), bool, int, float, str)
_TAGGED = {tuple: "t", set: "s", frozenset: "f"}
_UNTAG = {"t": tuple, "s": set, "f": frozenset}


class NotPlain(Exception):
    """A value that is not plain builtin data (or nested deeper than MAX_DEPTH)."""


def encode(value, depth=0):
    kind = type(value)
    if depth > MAX_DEPTH:
        raise NotPlain(f"nested deeper than {MAX_DEPTH}")
    if kind in _SCALARS:
        return value
    if kind is list:
        return [encode(item, depth + 1) for item in value]
    if kind in _TAGGED:
        return {_TAGGED[kind]: [encode(item, depth + 1) for item in value]}
    if kind is dict:
        return {"d": [[encode(key, depth + 1), encode(item, depth + 1)] for key, item in value.items()]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    raise NotPlain(f"a {kind.__module__}.{kind.__qualname__}"[:120])


def decode(data, depth=0):
    kind = type(data)
    if depth > MAX_DEPTH:
        raise NotPlain(f"nested deeper than {MAX_DEPTH}")
    if kind in _SCALARS:
        return data
    if kind is list:
        return [decode(item, depth + 1) for item in data]
    if kind is not dict or len(data) != 1:
        raise NotPlain(f"an unknown {kind.__name__} in the encoding")
    ((tag, body),) = data.items()
    try:
        return _decode_tagged(tag, body, depth)
    except (TypeError, ValueError) as error:  # unhashable keys, bad hex, wrong shapes
        raise NotPlain(f"a malformed {tag!r} value ({type(error).__name__})") from None


def _decode_tagged(tag, body, depth):
    if tag in _UNTAG and type(body) is list:
        return _UNTAG[tag](decode(item, depth + 1) for item in body)
    if tag == "d" and type(body) is list:
        return {decode(key, depth + 1): decode(item, depth + 1) for key, item in body}
    if tag == "b" and type(body) is str:
        return bytes.fromhex(body)
    if tag == "c" and type(body) is list and len(body) == 2 and all(type(x) is float for x in body):
        return complex(*body)
    raise NotPlain(f"an unknown tag {tag!r}"[:80])
