"""One write for many log lines: the lines come out as they did, fewer writes, none lost."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Iterator

import pytest

from server.logs import BatchedStreamHandler, JsonFormatter, RedactingFormatter, TextFormatter


class Writes(io.StringIO):
    """A stream that remembers each write it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


@pytest.fixture
def stream() -> Writes:
    return Writes()


@pytest.fixture
def logger(stream: Writes) -> Iterator[logging.Logger]:
    made = logging.getLogger("server.test_log_buffer")
    # At the next loop turn rather than 20 ms later: what these tests look at is the same.
    handler = BatchedStreamHandler(stream, interval=0)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    made.handlers[:] = [handler]
    made.propagate = False
    made.setLevel(logging.DEBUG)
    yield made
    made.handlers[:] = []


def records() -> list[logging.LogRecord]:
    made = []
    for level, message, args in [
        (logging.INFO, "callback received id=%d shape=%s", (7, "v2")),
        (logging.INFO, "tickets issued order=%s count=%d", ("R67cFTEOnxd7", 1)),
        (logging.WARNING, "payhero slow url=%s", ("https://u:pw-0123456789ab@payhero.example/x",)),
        (logging.INFO, "status changed order=%s %s -> %s", ("R67cFTEOnxd7", "processing", "completed")),
    ]:
        record = logging.LogRecord("server.test", level, __file__, 1, message, args, None)
        record.created, record.msecs = 1764990000.25, 250.0
        made.append(record)
    return made


@pytest.mark.parametrize("inner", [TextFormatter, JsonFormatter])
async def test_the_output_is_byte_for_byte_what_a_stream_handler_writes(
    inner: type[logging.Formatter], stream: Writes
) -> None:
    plain_stream = io.StringIO()
    plain = logging.StreamHandler(plain_stream)
    buffered = BatchedStreamHandler(stream, interval=0)
    for handler in (plain, buffered):
        handler.setFormatter(RedactingFormatter(inner(), ["pw-0123456789ab"]))
        for record in records():
            handler.handle(record)
    await asyncio.sleep(0)
    assert stream.getvalue() == plain_stream.getvalue()
    assert "pw-0123456789ab" not in stream.getvalue()


async def test_a_turns_info_lines_go_out_in_one_write_at_the_next_turn(
    logger: logging.Logger, stream: Writes
) -> None:
    logger.info("one")
    logger.info("two")
    assert stream.writes == []
    await asyncio.sleep(0)  # the write was asked for before this task's next step
    assert stream.writes == ["INFO one\nINFO two\n"]
    logger.info("three")
    await asyncio.sleep(0)
    assert stream.writes[1:] == ["INFO three\n"]


async def test_a_warning_goes_out_at_once_after_the_lines_kept_before_it(
    logger: logging.Logger, stream: Writes
) -> None:
    logger.info("kept")
    logger.warning("now")
    assert stream.writes == ["INFO kept\nWARNING now\n"]
    logger.error("at once too")
    assert stream.writes[1:] == ["ERROR at once too\n"]


async def test_flush_writes_what_is_kept_as_shutdown_does(logger: logging.Logger, stream: Writes) -> None:
    logger.info("the last line before the loop stops")
    for handler in logger.handlers:
        handler.flush()
    assert stream.getvalue() == "INFO the last line before the loop stops\n"
    await asyncio.sleep(0)  # the turn's own write finds nothing left
    assert len(stream.writes) == 1


def test_without_a_loop_each_line_goes_out_at_once(logger: logging.Logger, stream: Writes) -> None:
    logger.info("a command's line")
    assert stream.writes == ["INFO a command's line\n"]
    seen: list[str] = []
    thread = threading.Thread(target=lambda: (logger.info("a thread's line"), seen.extend(stream.writes)))
    thread.start()
    thread.join()
    assert seen == ["INFO a command's line\n", "INFO a thread's line\n"]


def test_lines_kept_by_a_loop_that_stopped_come_out_before_the_next_loops(
    logger: logging.Logger, stream: Writes
) -> None:
    async def log_and_stop() -> None:
        logger.info("from the first loop")
        # As a process's loop ends: this turn is its last, the write asked for never runs.
        asyncio.get_running_loop().stop()

    async def log() -> None:
        logger.info("from the second")

    first = asyncio.new_event_loop()
    first.run_until_complete(log_and_stop())
    first.close()
    assert stream.writes == []
    asyncio.run(log())
    assert stream.getvalue() == "INFO from the first loop\nINFO from the second\n"


async def test_a_full_buffer_is_written_without_waiting_for_the_turn(stream: Writes) -> None:
    handler = BatchedStreamHandler(stream, interval=0, capacity=3)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for n in range(4):
        handler.handle(logging.makeLogRecord({"msg": str(n), "levelno": logging.INFO}))
    assert stream.writes == ["0\n1\n2\n"]
    await asyncio.sleep(0)
    assert stream.writes[1:] == ["3\n"]


async def test_the_service_writes_its_lines_once_a_while_not_once_a_turn(
    stream: Writes, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    asked: list[tuple[float, object]] = []
    monkeypatch.setattr(loop, "call_later", lambda delay, *call: asked.append((delay, call)))
    handler = BatchedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for text in ("one", "two"):
        handler.handle(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))
        await asyncio.sleep(0)
    # One write asked for, 20 ms after the first line; nothing written before it.
    assert [delay for delay, _ in asked] == [0.02] and stream.writes == []
    write_kept, *args = asked[0][1]  # type: ignore[misc]
    write_kept(*args)
    assert stream.writes == ["one\ntwo\n"]
