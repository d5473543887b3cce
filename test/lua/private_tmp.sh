#!/bin/sh
# private_tmp.sh COMMAND...: runs COMMAND with a /tmp of its own, a fresh
# tmpfs in a private mount namespace, and fails when it leaves anything
# there: os.tmpname() makes files in /tmp whatever TMPDIR says, and an
# example that forgets one litters every machine that runs it. Exits 77
# (meson's skip), saying why, where no mount namespace can be made.
set -u
if [ "${1-}" = --inside ]; then
    shift
    mount -t tmpfs -o mode=1777,size=16m private-tmp /tmp || exit 1
    "$@"
    status=$?
    leftover=$(ls -A /tmp)
    if [ -n "$leftover" ]; then
        echo "private_tmp.sh: the command left in /tmp:" $leftover >&2
        [ "$status" -eq 0 ] && status=1
    fi
    exit "$status"
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=
else
    as_root=--map-root-user
fi
if ! unshare --mount $as_root true 2>/dev/null; then
    echo "private_tmp.sh: skipped: no private mount namespace here (unshare --mount $as_root failed)" >&2
    exit 77
fi
exec unshare --mount --propagation private $as_root sh "$0" --inside "$@"
