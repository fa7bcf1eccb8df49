"""An incremental Server-Sent Events parser fed with body chunks as they arrive."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Event:
    event: str
    data: str
    id: str | None


class SSEParser:
    """Turns bytes into events; lines may be split anywhere across chunks."""

    def __init__(self) -> None:
        self._partial = b""
        self._event = "message"
        self._data: list[str] = []
        self._id: str | None = None
        self.retry: int | None = None
        self.comments = 0

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8")
            if not line:
                if self._data:
                    events.append(Event(self._event, "\n".join(self._data), self._id))
                self._event, self._data = "message", []
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                self.comments += 1
            elif name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id":
                self._id = value
            elif name == "retry" and value.isdigit():
                self.retry = int(value)
        return events
