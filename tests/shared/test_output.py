"""tap_support/output.py, the writer of tap-klaviyo and tap-csv: pages of RECORD lines and other messages reach
stdout in the order they were written, and a STATE never waits in the buffer behind nothing."""

from __future__ import annotations

import json

from singer_sdk.singerlib.messages import StateMessage

from tap_support.output import CHUNK_BYTES, BufferedSingerWriter


def page(name: str, size: int) -> bytes:
    """RECORD-like lines of about `size` bytes, named so the order can be read back."""
    line = json.dumps({"type": "RECORD", "stream": "events", "record": {"page": name}}).encode() + b"\n"
    return line * (size // len(line) + 1)


def test_pages_and_states_arrive_in_order(capsysbinary):
    writer = BufferedSingerWriter()
    small, big, after = page("small", 1000), page("big", CHUNK_BYTES + 1), page("after", 1000)
    writer.write_lines(small)
    assert capsysbinary.readouterr().out == b""  # a small page waits for more
    writer.write_lines(big)  # over a chunk: what waited, then the page
    assert capsysbinary.readouterr().out == small + big
    writer.write_lines(after)
    writer.write_message(StateMessage(value={"bookmarks": {}}))  # a state writes what waited first
    out = capsysbinary.readouterr().out
    assert out.startswith(after) and json.loads(out[len(after) :]) == {"type": "STATE", "value": {"bookmarks": {}}}


def test_small_pages_go_out_once_they_fill_a_chunk(capsysbinary):
    writer = BufferedSingerWriter()
    pages = [page(str(k), CHUNK_BYTES // 3) for k in range(3)]
    for written in pages:
        writer.write_lines(written)
    assert capsysbinary.readouterr().out == b"".join(pages)
