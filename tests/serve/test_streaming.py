"""Streamed text never runs ahead of the finished reply: stop strings and split characters are held back."""

from evalkit.serve.streaming import IncrementalText


class ByteTokenizer:
    """Each token id is one UTF-8 byte: a character of several bytes spans several tokens."""

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


def stream(text: str, stops=(), prefix="") -> tuple[list[str], IncrementalText]:
    incremental = IncrementalText(ByteTokenizer(), stops, prefix)
    return [incremental.add(b) for b in text.encode()], incremental


def test_plain_text_goes_out_token_by_token_with_the_prefix_first():
    deltas, incremental = stream("abc", prefix="Q: ")
    assert deltas == ["Q: a", "b", "c"]
    assert incremental.finish("Q: abc") == ""


def test_a_split_character_waits_for_its_last_byte():
    deltas, _ = stream("aé!")
    assert deltas == ["a", "", "é", "!"]


def test_what_could_start_a_stop_is_held_and_the_stop_never_sent():
    deltas, incremental = stream("12 Question: more", stops=["Question:"])
    assert "".join(deltas) == "12 "  # "Q", "Qu" ... were held; from the stop on nothing goes out
    assert incremental.finish("12 ") == ""


def test_a_held_tail_that_is_not_a_stop_goes_out_with_the_next_token_or_at_the_end():
    deltas, incremental = stream("a Qx", stops=["Question:"])
    assert deltas == ["a", " ", "", "Qx"]
    deltas, incremental = stream("a Qu", stops=["Question:"])
    assert "".join(deltas) == "a " and incremental.finish("a Qu") == "Qu"
