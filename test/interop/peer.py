#!/usr/bin/env python3
"""The other end of test_interop_python: a peer written with Python's socket
module, not with unixdgram.

    peer.py send-fds FD      sends a datagram carrying two descriptors (a file
                             it wrote and the read end of a pipe it filled)
                             over the inherited socket FD, then exits
    peer.py receive-fd FD    receives a datagram carrying one descriptor over
                             FD, reads the file behind it, and replies with
                             what it got
    peer.py exchange PATH    from an autobound address, sends a datagram with a
                             file descriptor to PATH, receives one back the same
                             way, and reports what it read to PATH
    peer.py full-name PATH   binds an abstract name that fills all 108 bytes of
                             sun_path (a NUL and 107 bytes, no terminator),
                             sends that name to PATH, and waits for the reply
                             "reply to <name>" sent back to it

Exit status 0 when everything went as expected, 1 otherwise. Diagnostics go to
stderr only: the test's stdout is TAP.
"""

import os
import socket
import sys
import tempfile

TIMEOUT_SECONDS = 10
FILE_CONTENT = b"file written by python\n"
PIPE_CONTENT = b"pipe written by python"


def fail(message):
    print(f"peer.py: {message}", file=sys.stderr)
    sys.exit(1)


def file_holding(content):
    """An unnamed temporary file holding content, positioned at its start."""
    file = tempfile.TemporaryFile()
    file.write(content)
    file.flush()
    file.seek(0)
    return file


def describe_received(message, fds, flags):
    """Reads the file behind the one descriptor received; the report names
    what arrived so that the test can check it."""
    if flags & socket.MSG_CTRUNC:
        fail("control data truncated")
    if len(fds) != 1:
        fail(f"expected 1 descriptor, got {len(fds)}")
    content = os.pread(fds[0], 4096, 0)
    for fd in fds:
        os.close(fd)
    return b"python got '" + message + b"' and read '" + content + b"' with 1 fd"


def send_fds(fd):
    sock = socket.socket(fileno=fd)
    sock.settimeout(TIMEOUT_SECONDS)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_DGRAM:
        fail(f"descriptor {fd} is not an AF_UNIX datagram socket")
    with file_holding(FILE_CONTENT) as file:
        read_end, write_end = os.pipe()
        os.write(write_end, PIPE_CONTENT)
        os.close(write_end)
        socket.send_fds(sock, [b"two fds from python"], [file.fileno(), read_end])
        os.close(read_end)
    sock.close()


def receive_fd(fd):
    sock = socket.socket(fileno=fd)
    sock.settimeout(TIMEOUT_SECONDS)
    message, fds, flags, _ = socket.recv_fds(sock, 1024, 4)
    sock.send(describe_received(message, fds, flags))
    sock.close()


def exchange(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(TIMEOUT_SECONDS)
    sock.bind("")  # autobind: Linux picks an abstract name
    with file_holding(b"exchanged by python\n") as file:
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, file.fileno().to_bytes(4, sys.byteorder))]
        sock.sendmsg([b"hello from python"], rights, 0, path)
    message, fds, flags, _ = socket.recv_fds(sock, 1024, 4)
    sock.sendto(describe_received(message, fds, flags), path)
    sock.close()


def full_name(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(TIMEOUT_SECONDS)
    name = b"\0" + f"unixdgram-python-{os.getpid()}-".encode()
    name += b"L" * (108 - len(name))
    sock.bind(name)
    if sock.getsockname() != name:
        fail(f"bound to {sock.getsockname()!r}, not the 108-byte name")
    sock.sendto(name, path)
    reply, sender = sock.recvfrom(1024)
    if reply != b"reply to " + name:
        fail(f"unexpected reply {reply!r}")
    sock.close()


def main(arguments):
    if len(arguments) != 2:
        fail(f"usage: peer.py send-fds|receive-fd FD | peer.py exchange|full-name PATH "
             f"(got {arguments})")
    mode, target = arguments
    if mode == "send-fds":
        send_fds(int(target))
    elif mode == "receive-fd":
        receive_fd(int(target))
    elif mode == "exchange":
        exchange(target)
    elif mode == "full-name":
        full_name(target)
    else:
        fail(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
