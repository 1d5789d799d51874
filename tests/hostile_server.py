"""A small hostile HTTP server on 127.0.0.1 for the tests: it reads a request's head and lets
the test write whatever bytes it likes back (headers the replay server would never send, a body
dripped a byte at a time, a compression bomb), so each attack runs over a real socket."""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable

Answer = Callable[[socket.socket, bytes], None]


class HostileServer:
    """Answers every connection with `answer(sock, request_head)`; counts the requests."""

    def __init__(self, answer: Answer):
        self.requests: list[bytes] = []
        outer = self

        class _Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                outer.requests.append(head)
                with contextlib.suppress(OSError):  # the client gave up on us, as it should
                    answer(self.request, head)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def head(status: int = 200, **headers: str) -> bytes:
    """A response head; header names as keyword arguments, '_' for '-'."""
    lines = [f"HTTP/1.1 {status} X"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send(status: int, body: bytes, **headers: str) -> Answer:
    """Answer with `body` as it is, with the given headers and a Content-Length."""
    def answer(sock: socket.socket, _head: bytes) -> None:
        sock.sendall(head(status, Content_Length=str(len(body)), Connection="close", **headers)
                     + body)
    return answer


def drip(body: bytes, every: float, **headers: str) -> Answer:
    """Send the head at once, then the body one byte every `every` seconds."""
    def answer(sock: socket.socket, _head: bytes) -> None:
        sock.sendall(head(200, Content_Length=str(len(body)), **headers))
        for byte in body:
            time.sleep(every)
            sock.sendall(bytes([byte]))
    return answer


def drip_head(every: float) -> Answer:
    """Never finish the head: one header byte every `every` seconds, for ever."""
    def answer(sock: socket.socket, _head: bytes) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        while True:
            time.sleep(every)
            sock.sendall(b"X")
    return answer


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes gzipped, then gzipped again (send with Content-Encoding: gzip, gzip)."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [inner.compress(block) for _ in range(size // len(block))]
    parts.append(inner.flush())
    return gzip.compress(b"".join(parts), 9)
