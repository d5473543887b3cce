#!/usr/bin/env python3
"""A sender of explicit credentials on CPython's socket module: an ancillary
SCM_CREDENTIALS message built by hand for socket.sendmsg, as a process
notifying on behalf of another does. Driven by test/test_interop_programs.cpp.

  credentials_peer.py send ADDRESS PID UID GID TEXT
      sends TEXT to ADDRESS ("@name" for an abstract name, else a path) with
      SCM_CREDENTIALS (PID, UID, GID). Each of PID, UID and GID is a number,
      or "self" (this process's pid, uid or gid), or for PID "parent".
      Prints one line: "sent PID UID GID" when the kernel took them, or
      "refused ERRNO-NAME PID UID GID" when sendmsg failed with a permission
      error (EPERM), the numbers being the ones tried. Exit status 0 then;
      1 for anything else.

Diagnostics go to stderr: the test reads stdout.
"""
import errno
import os
import socket
import struct
import sys

# Linux's SCM_CREDENTIALS; CPython's socket module has it only where the
# headers define it, which they do on Linux, but the number is fixed there.
SCM_CREDENTIALS = getattr(socket, "SCM_CREDENTIALS", 28)


def address(text):
    return "\0" + text[1:] if text.startswith("@") else text


def number(text, own, parent=None):
    if text == "self":
        return own
    if text == "parent" and parent is not None:
        return parent
    return int(text)


def send(target, pid_text, uid_text, gid_text, text):
    pid = number(pid_text, os.getpid(), os.getppid())
    uid = number(uid_text, os.getuid())
    gid = number(gid_text, os.getgid())
    # struct ucred { pid_t pid; uid_t uid; gid_t gid; }
    credentials = struct.pack("iII", pid, uid, gid)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        try:
            sender.sendmsg([text.encode()], [(socket.SOL_SOCKET, SCM_CREDENTIALS, credentials)],
                           0, address(target))
        except PermissionError as failure:
            print(f"refused {errno.errorcode[failure.errno]} {pid} {uid} {gid}", flush=True)
            return
    print(f"sent {pid} {uid} {gid}", flush=True)


def main():
    if len(sys.argv) != 7 or sys.argv[1] != "send":
        sys.exit("usage: credentials_peer.py send ADDRESS PID UID GID TEXT")
    send(*sys.argv[2:])


if __name__ == "__main__":
    main()
