#!/usr/bin/env python3
"""A service on python3-systemd, Debian's binding of libsystemd (systemd 252):
its notify and journal calls, driven by test/test_interop_programs.cpp. Run
it with Debian's /usr/bin/python3, which is the interpreter the package
installs the module for.

  libsystemd_peer.py notify STATE PID CONTENT...
      systemd.daemon.notify(STATE, pid=PID, fds=[...]) to NOTIFY_SOCKET, one
      descriptor per CONTENT: an unnamed temporary file holding it. PID is a
      number, "self" or "parent". Prints "notify PID RESULT", RESULT being
      what notify returned.

  libsystemd_peer.py journal SIZE
      prints "pid PID" (its own), then sends two journal entries with
      systemd.journal.send (sd_journal_sendv) to /run/systemd/journal/socket:
      a small one, MESSAGE="hello from python-systemd" with FOO="bar" and
      MULTI="two\\nlines" (a value holding a newline, which the native
      protocol sends in its binary form), and a large one, MESSAGE of SIZE
      "x"s with BIG="yes". Prints "sent" after them.

Both set CODE_FILE, CODE_LINE, CODE_FUNC and SYSLOG_IDENTIFIER themselves,
so what is sent does not depend on this file's layout. Diagnostics go to
stderr: the test reads stdout.
"""
import os
import sys
import tempfile

try:
    from systemd import daemon, journal
except ImportError as failure:
    sys.exit(f"libsystemd_peer.py: {failure} (Debian: apt-get install python3-systemd, "
             f"and run {sys.executable!r} as /usr/bin/python3)")

CODE = {"CODE_FILE": "libsystemd_peer.py", "CODE_LINE": 1, "CODE_FUNC": "main",
        "SYSLOG_IDENTIFIER": "unixdgram-test"}


def notify(state, pid_text, contents):
    pid = {"self": os.getpid(), "parent": os.getppid()}.get(pid_text)
    pid = int(pid_text) if pid is None else pid
    files = []
    for content in contents:
        file = tempfile.TemporaryFile()
        file.write(content.encode())
        file.flush()
        files.append(file)
    result = daemon.notify(state, pid=pid, fds=[file.fileno() for file in files])
    print(f"notify {pid} {result}", flush=True)


def send_journal(size):
    print(f"pid {os.getpid()}", flush=True)
    journal.send("hello from python-systemd", FOO="bar", MULTI="two\nlines", **CODE)
    journal.send("x" * size, BIG="yes", **CODE)
    print("sent", flush=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "notify" and len(sys.argv) >= 4:
        notify(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif mode == "journal" and len(sys.argv) == 3:
        send_journal(int(sys.argv[2]))
    else:
        sys.exit("usage: libsystemd_peer.py notify STATE PID CONTENT... | journal SIZE")


if __name__ == "__main__":
    main()
