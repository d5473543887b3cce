#!/usr/bin/env python3
"""CPython's socket module doing what bench_cpp's contenders do.

Workloads (the ids bench_cpp uses):
  fill64  32 datagrams of 64 B sent, then received, per batch: send/recv_into
  fill1k  the same with 1 KiB datagrams
  fd64    64 B and one descriptor per datagram: socket.send_fds/recv_fds,
          closing each descriptor received

Each round times every workload once; the figure kept is the median over the
rounds. Output, one line per workload, as scripts/bench reads it:

  <workload id> <ns per datagram>

Usage: bench_python.py [--rounds N] [--datagrams N]
"""

import argparse
import os
import socket
import statistics
import time

BATCH_SIZE = 32


def connected_pair():
    """Two blocking AF_UNIX datagram sockets connected to each other."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)


def fill_drain(payload):
    """A function running `batches` batches of send, then recv_into; the
    sockets live as long as it does."""
    sender, receiver = connected_pair()
    out = bytes(payload)
    into = bytearray(payload)
    send = sender.send
    recv_into = receiver.recv_into

    def run(batches):
        for _ in range(batches):
            for _ in range(BATCH_SIZE):
                if send(out) != payload:
                    raise RuntimeError("short send")
            for _ in range(BATCH_SIZE):
                if recv_into(into) != payload:
                    raise RuntimeError("short receive")

    return run


def fd_per_datagram(payload):
    """A function running `batches` batches carrying one descriptor each."""
    sender, receiver = connected_pair()
    out = [bytes(payload)]
    passed = [os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)]
    send_fds = socket.send_fds
    recv_fds = socket.recv_fds
    close = os.close

    def run(batches):
        for _ in range(batches):
            for _ in range(BATCH_SIZE):
                if send_fds(sender, out, passed) != payload:
                    raise RuntimeError("short send")
            for _ in range(BATCH_SIZE):
                data, fds, _flags, _address = recv_fds(receiver, payload, 1)
                if len(data) != payload or len(fds) != 1:
                    raise RuntimeError("short receive")
                close(fds[0])

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--datagrams", type=int, default=16384)
    options = parser.parse_args()

    workloads = {
        "fill64": fill_drain(64),
        "fill1k": fill_drain(1024),
        "fd64": fd_per_datagram(64),
    }
    batches = max(options.datagrams // BATCH_SIZE, 1)
    for run in workloads.values():
        run(max(batches // 8, 1))

    samples = {name: [] for name in workloads}
    for _ in range(options.rounds):
        for name, run in workloads.items():
            start = time.perf_counter_ns()
            run(batches)
            samples[name].append((time.perf_counter_ns() - start) / (batches * BATCH_SIZE))

    for name, values in samples.items():
        print(f"{name} {statistics.median(values):.1f}")


if __name__ == "__main__":
    main()
