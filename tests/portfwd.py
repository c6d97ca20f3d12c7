"""A port forwarder between network namespaces, as Docker Desktop forwards published ports
from its VM to the host's localhost: accept on LISTEN, connect each client to TARGET.

    python tests/portfwd.py tcp:127.0.0.1:32771 unix:/tmp/x/32771.sock   (in the namespace)
    python tests/portfwd.py unix:/tmp/x/32771.sock tcp:127.0.0.1:32771   (on the host)

A Unix socket is a file, so it crosses namespaces where TCP does not.
"""
from __future__ import annotations

import socket
import sys
import threading


def endpoint(spec: str) -> tuple[int, object]:
    kind, _, rest = spec.partition(":")
    if kind == "unix":
        return socket.AF_UNIX, rest
    host, _, port = rest.rpartition(":")
    return socket.AF_INET, (host, int(port))


def pump(src: socket.socket, dst: socket.socket, done: threading.Semaphore) -> None:
    """One direction. Its end is passed on as a half-close, so the other direction still
    carries the answer (`docker run -i` closes its stdin and then reads the exit code)."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    if not done.acquire(blocking=False):  # the second direction to finish closes both
        src.close()
        dst.close()


def serve(listen: str, target: str) -> None:
    family, address = endpoint(listen)
    server = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(address)
    server.listen(64)
    print("ready", flush=True)
    to_family, to_address = endpoint(target)
    while True:
        client, _ = server.accept()
        upstream = socket.socket(to_family, socket.SOCK_STREAM)
        try:
            upstream.connect(to_address)
        except OSError:
            client.close()
            continue
        done = threading.Semaphore(1)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b, done), daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
