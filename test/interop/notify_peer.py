#!/usr/bin/env python3
"""A peer of systemd's notification protocol on CPython's socket module
(socket.send_fds, socket.recv_fds), driven by test/test_systemd.cpp.

  notify_peer.py send-fdstore ADDRESS NAME
      sends "FDSTORE=1\\nFDNAME=NAME" with the read end of a pipe holding
      "kept by python\\n" to ADDRESS, as a service storing a descriptor does.

  notify_peer.py receive ADDRESS COUNT
      binds ADDRESS, prints "bound", then receives COUNT datagrams with
      recv_fds and prints one JSON line for each: the payload, the flags and,
      per descriptor, its kind and (for a file or a pipe's read end) what it
      holds. A "BARRIER=1" datagram's descriptors are kept open until a line
      arrives on stdin, so the test can see its barrier wait.

ADDRESS is systemd's text form: "@name" for an abstract name, else a path.
"""
import fcntl
import json
import os
import socket
import stat
import sys


def address(text):
    return "\0" + text[1:] if text.startswith("@") else text


def send_fdstore(target, name):
    read_end, write_end = os.pipe()
    os.write(write_end, b"kept by python\n")
    os.close(write_end)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        # Python 3.11's send_fds ignores its flags and address arguments
        # (it calls sendmsg without them), so the socket is connected first.
        sender.connect(address(target))
        payload = f"FDSTORE=1\nFDNAME={name}".encode()
        socket.send_fds(sender, [payload], [read_end])
    os.close(read_end)


def describe(fd):
    mode = os.fstat(fd).st_mode
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    readable = (flags & os.O_ACCMODE) in (os.O_RDONLY, os.O_RDWR)
    entry = {"cloexec": not os.get_inheritable(fd)}
    if stat.S_ISFIFO(mode):
        entry["kind"] = "pipe"
        entry["end"] = "read" if readable else "write"
    elif stat.S_ISREG(mode):
        entry["kind"] = "file"
    elif stat.S_ISSOCK(mode):
        entry["kind"] = "socket"
    else:
        entry["kind"] = "other"
    return entry


def receive(target, count):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(address(target))
        print("bound", flush=True)
        for _ in range(count):
            payload, fds, flags, _ = socket.recv_fds(receiver, 65536, 16)
            report = {
                "payload": payload.decode(errors="replace"),
                "truncated": bool(flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC)),
                "fds": [describe(fd) for fd in fds],
            }
            for fd, entry in zip(fds, report["fds"]):
                if entry["kind"] == "file":
                    entry["content"] = os.pread(fd, 4096, 0).decode(errors="replace")
            print(json.dumps(report), flush=True)
            if payload == b"BARRIER=1":
                sys.stdin.readline()
            for fd in fds:
                os.close(fd)


def main():
    mode = sys.argv[1]
    if mode == "send-fdstore":
        send_fdstore(sys.argv[2], sys.argv[3])
    elif mode == "receive":
        receive(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"notify_peer.py: unknown mode {mode!r}")


if __name__ == "__main__":
    main()
