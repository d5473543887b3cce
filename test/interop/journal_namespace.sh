#!/bin/sh
# journal_namespace.sh OUTER-NAMESPACE SOCKET COMMAND...: run under
# `unshare --mount` by test/test_interop_programs.cpp. Makes
# /run/systemd/journal/socket, the fixed path libsystemd's journal calls send
# to, lead to SOCKET (the test's receiver, bound outside) in this private
# mount namespace only, runs COMMAND, then cleans up.
#
# Nothing of the host is touched: a fresh tmpfs goes on the deepest of
# /run/systemd/journal, /run/systemd and /run that exists, and
# /run/systemd/journal/socket is a symbolic link in it; no bind mount. It
# refuses to run in OUTER-NAMESPACE (the test's own, as readlink
# /proc/self/ns/mnt names it), that is without unshare.
set -eu
outer=$1 socket=$2
shift 2
if [ "$(readlink /proc/self/ns/mnt)" = "$outer" ]; then
    echo "journal_namespace.sh: not in a private mount namespace; run it under unshare --mount" >&2
    exit 2
fi
for top in /run/systemd/journal /run/systemd /run; do
    [ -d "$top" ] && break
done
mount -t tmpfs -o mode=0755,size=1m unixdgram-test "$top"
mkdir -p /run/systemd/journal
ln -s "$socket" /run/systemd/journal/socket
status=0
"$@" || status=$?
rm -rf --one-file-system -- /run/systemd/journal/socket
umount "$top"
exit "$status"
