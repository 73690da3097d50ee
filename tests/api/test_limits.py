"""Bounded requests against a real `budgetpilot serve`: a body is never read before the token
is checked, and a body over `[service] max_body_bytes` is refused with 413 before it is read."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.exceptions import HTTPException

from api.limits import RequestGate

MIB = 1024 * 1024
HUGE = 200 * MIB
BUDGETPILOT = Path(sys.executable).with_name("budgetpilot")


@dataclass
class Served:
    url: str
    port: int
    pid: int
    token: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    """The process' peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve")
    config = work / "bp.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{work / "bp.db"}"\n'
                      '[service]\nmax_body_bytes = 1048576\n')
    env = {**os.environ, "BUDGETPILOT_CONFIG": str(config)}
    env.pop("BUDGETPILOT_DATABASE_URL", None)
    created = subprocess.run(
        [str(BUDGETPILOT), "token", "create", "--name", "ops", "--role", "admin",
         "--config", str(config)], env=env, capture_output=True, text=True, check=True)
    token = created.stdout.strip().splitlines()[-1]
    port = _free_port()
    proc = subprocess.Popen(
        [str(BUDGETPILOT), "serve", "--config", str(config), "--port", str(port)],
        env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.2)
    try:
        yield Served(url, port, proc.pid, token)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _json_body(size: int) -> Iterator[bytes]:
    """A valid JSON document of exactly ``size`` bytes, a MiB at a time."""
    head, tail = b'{"name": "', b'"}'
    yield head
    left = size - len(head) - len(tail)
    while left > 0:
        n = min(MIB, left)
        yield b"x" * n
        left -= n
    yield tail


def _stream(port: int, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, float]:
    """Send ``head`` then the body's chunks, watching for an answer; return the response's
    first bytes and the seconds it took. Stops sending once an answer came (the server may
    close the connection)."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, time.monotonic() - started


def _chunked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def test_unauthenticated_huge_body_is_refused_unread(served: Served) -> None:
    before = _peak_rss_mb(served.pid)
    head = (f"POST /api/v1/plans HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {HUGE}\r\n\r\n").encode()
    answer, seconds = _stream(served.port, head, _json_body(HUGE))
    peak = _peak_rss_mb(served.pid)
    print(f"\nserve peak RSS {before:.0f} MB, {peak:.0f} MB after a 200 MB body ({seconds:.1f}s)")
    assert peak - before < 20, (before, peak)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert seconds < 10
    # the same without a declared length (chunked), and with a token that is not ours
    chunked = (b"POST /api/v1/caps HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer bp_nope\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    answer, _ = _stream(served.port, chunked, _chunked(_json_body(HUGE)))
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    peak = _peak_rss_mb(served.pid)
    print(f"serve peak RSS {peak:.0f} MB after a chunked one")
    assert peak - before < 20, (before, peak)


def test_a_body_over_the_limit_is_refused_with_413(served: Served) -> None:
    headers = {"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"}
    body = b'{"name": "' + b"x" * (2 * MIB) + b'"}'
    declared = httpx.post(f"{served.url}/api/v1/plans", content=body, headers=headers,
                          timeout=30)
    assert declared.status_code == 413
    assert declared.headers["content-type"].startswith("application/problem+json")
    assert "1048576 bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]

    streamed = httpx.post(f"{served.url}/api/v1/plans", content=chunks(), headers=headers,
                          timeout=30)
    assert streamed.status_code == 413
    assert streamed.json()["status"] == 413
    # a body under the limit still goes through to validation as before
    small = httpx.post(f"{served.url}/api/v1/plans", json={}, headers=headers, timeout=30)
    assert small.status_code == 422


@given(sizes=st.lists(st.integers(0, 3000), max_size=8), declared=st.booleans())
@settings(max_examples=60, deadline=None)
def test_the_gate_lets_through_exactly_the_bodies_within_the_limit(
    sizes: list[int], declared: bool,
) -> None:
    """Any split of a body into chunks, with or without Content-Length: at most the limit
    reaches the application, whole; beyond it the answer is 413 and reading stops."""
    limit = 4096
    total = sum(sizes)
    pulled: list[int] = []

    async def receive() -> dict[str, object]:
        i = len(pulled)
        pulled.append(i)
        if i < len(sizes):
            return {"type": "http.request", "body": b"x" * sizes[i],
                    "more_body": i + 1 < len(sizes)}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def app(scope: dict[str, object], receive_: Any, send: Any) -> None:
        seen = 0
        while True:
            try:
                message = await receive_()
            except HTTPException as e:
                await send({"type": "http.response.start", "status": e.status_code,
                            "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(seen).encode()})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    gate = RequestGate(app, prefix="/api/v1", max_body_bytes=limit, engine=None,  # type: ignore[arg-type]
                       principals=None)  # type: ignore[arg-type]
    headers = [(b"content-length", str(total).encode())] if declared else []
    scope = {"type": "http", "method": "POST", "path": "/elsewhere", "headers": headers}
    asyncio.run(gate(scope, receive, send))  # type: ignore[arg-type]
    status = sent[0]["status"]
    if total <= limit:
        assert status == 200 and sent[1]["body"] == str(total).encode()
    else:
        assert status == 413
        if declared:
            assert pulled == []  # refused on the declared length, nothing read
        read = sum(sizes[:len(pulled)])
        assert read - max(sizes, default=0) <= limit  # stopped within one chunk of the limit
