"""The local Kinesis server as the jobs use it: a client that dies mid-request must not take it down."""

from __future__ import annotations

import socket
import struct
import time

from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.local import stack
from pipelines.settings import Settings


def _reset_mid_request(port: int) -> None:
    """Send half a PutRecords request, then reset the connection, as a process killed with kill -9 does."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: Kinesis_20131202.PutRecords\r\nContent-Length: 1000\r\n\r\n{\"Records\": ["
        )
        time.sleep(0.2)  # the server has read the head and waits for the rest of the body
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset


def test_a_client_reset_mid_request_leaves_the_server_serving(kinesalite: Settings) -> None:
    pid = stack.recorded_pid(kinesalite)
    assert pid is not None

    for _ in range(3):
        _reset_mid_request(kinesalite.kinesis_port)
    time.sleep(0.5)  # kinesalite's own handler used to rethrow the request's error here and exit

    assert stack.recorded_pid(kinesalite) == pid
    sink = BotoKinesisSink(kinesis_client(kinesalite), kinesalite.stream_name)
    assert sink.put([(f"k{i}", f"r{i}".encode()) for i in range(5)]).sent == 5
    assert stack.healthy(kinesis_client(kinesalite))
