"""The benchmarks' service process: a port taken before it binds is not an error of the run."""

from __future__ import annotations

import socket

import pytest

from bench.service import Service

pytestmark = pytest.mark.slow


async def test_a_start_that_lost_its_port_is_set_aside_and_not_counted_as_an_error() -> None:
    # The port the service is told to use is already held, as another test's server may take
    # a port picked free before this one binds it (a flash sale once counted 1 error so).
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        service = Service(env={"MAIL_COMPOSE_PROCESSES": "0"})
        service._move_to(taken)
        try:
            await service.start()
            assert service.port != taken
            assert (await service.get("/readyz"))[0] == 200
            assert service.log_errors() == []
            aside = service.log_path.with_suffix(".port-taken.log").read_text()
            assert "address already in use" in aside.lower()
        finally:
            await service.stop()
