"""Issue 19: `rediss://` as platforms hand it out, against a real TLS Redis of the test's own
(the machine's redis-server is built with TLS), with a self-signed certificate made here."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.broker.base import status_channel
from server.broker.redis_broker import RedisBroker
from server.ops.preflight import StartRefused, wait_for_redis
from server.settings import Settings
from tests.backends import free_port, missing
from tests.helpers import Collector


@dataclass
class TlsRedis:
    port: int
    ca: Path

    def url(self, query: str) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?{query}"


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    binary, openssl = shutil.which("redis-server"), shutil.which("openssl")
    if binary is None or openssl is None:
        missing("redis-server with TLS", "redis-server or openssl not installed")
    cert, key = self_signed(tmp_path, "redis")
    port = free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(cert),
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                missing("redis-server with TLS", f"this build refused --tls-port: {output[-300:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the TLS redis-server did not start"
                time.sleep(0.02)
        yield TlsRedis(port, cert)
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.parametrize("verify", ["required", "none"])
async def test_the_broker_speaks_tls_with_the_certificate_checked_or_not(
    tls_redis: TlsRedis, verify: str
) -> None:
    query = (
        f"ssl_cert_reqs=required&ssl_ca_certs={tls_redis.ca}"
        if verify == "required"
        else "ssl_cert_reqs=none"
    )
    url = tls_redis.url(query)
    Settings.from_env({"REDIS_URL": url}, dotenv=None)  # the options are understood
    broker, collector = RedisBroker(url), Collector()
    await broker.connect(collector)
    try:
        channel = status_channel(uuid.uuid4().hex)
        await broker.subscribe(channel)
        await broker.publish(channel, "paid")
        assert await asyncio.wait_for(collector.messages.get(), 5) == (channel, "paid")
        assert await broker.ping()
    finally:
        await broker.disconnect()


async def test_a_certificate_nobody_vouches_for_refuses_to_start(tls_redis: TlsRedis, tmp_path: Path) -> None:
    other_ca, _ = self_signed(tmp_path, "other")
    for query in ("ssl_cert_reqs=required", f"ssl_cert_reqs=required&ssl_ca_certs={other_ca}"):
        settings = Settings.from_env({"REDIS_URL": tls_redis.url(query), "STARTUP_WAIT": "2"}, dotenv=None)
        with pytest.raises(
            StartRefused, match=f"Redis at 127.0.0.1:{tls_redis.port}.*certificate verify failed"
        ):
            await wait_for_redis(settings)
