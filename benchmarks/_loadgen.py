"""A keep-alive HTTP/1.1 load generator on raw sockets, for when wrk is absent.

Run by e2e_bench.py: ``python _loadgen.py PORT CONNECTIONS SECONDS START_AT``.
Each process keeps CONNECTIONS sockets busy (one request in flight on each,
epoll-driven, no HTTP library), starts at the wall-clock time START_AT and
prints the number of responses completed in the next SECONDS. A few
microseconds of CPU per request: far from being the bottleneck of a server
that needs tens of microseconds per request.
"""

from __future__ import annotations

import selectors
import socket
import sys
import time

REQUEST = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n"
    b"X-Session-ID: conv-7f3a9c2e\r\nX-User-ID: user-1842\r\nX-Tenant-ID: acme-corp\r\n\r\n"
)


def _complete(buffer: bytearray) -> int:
    """Remove the complete responses at the head of ``buffer``; return how many."""
    count = 0
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return count
        head = bytes(buffer[:end]).lower()
        length = 0
        marker = head.find(b"content-length:")
        if marker >= 0:
            line_end = head.find(b"\r\n", marker)
            length = int(head[marker + 15 : line_end if line_end >= 0 else end])
        if len(buffer) < end + 4 + length:
            return count
        del buffer[: end + 4 + length]
        count += 1


def main(port: int, connections: int, seconds: float, start_at: float) -> None:
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffers[sock] = bytearray()
        selector.register(sock, selectors.EVENT_READ)
    time.sleep(max(0.0, start_at - time.time()))
    for sock in buffers:
        sock.sendall(REQUEST)
    done = 0
    deadline = start_at + seconds
    while time.time() < deadline:
        for key, _ in selector.select(timeout=0.1):
            sock = key.fileobj  # type: ignore[assignment]
            data = sock.recv(65536)  # type: ignore[attr-defined]
            if not data:
                raise SystemExit("server closed the connection")
            buffer = buffers[sock]  # type: ignore[index]
            buffer += data
            completed = _complete(buffer)
            if completed:
                done += completed
                sock.sendall(REQUEST)  # type: ignore[attr-defined]
    for sock in buffers:
        sock.close()
    print(done, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
