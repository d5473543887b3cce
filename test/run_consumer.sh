#!/usr/bin/env bash
# Builds example/consumer the way a user would: in a fresh directory, with a
# copy of this project vendored as subprojects/unixdgram. Prints TAP.
#
#   run_consumer.sh SOURCE_ROOT        (MESON names the meson to run, default: meson)
set -uo pipefail

source_root=${1:?usage: run_consumer.sh SOURCE_ROOT}
meson=${MESON:-meson}

work=$(mktemp -d "${TMPDIR:-/tmp}/unixdgram-consumer.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
log=$work/step.log

# The consumer, minus any copy of unixdgram a developer left in it by hand.
mkdir "$work/project"
cp -R "$source_root/example/consumer/." "$work/project/"
vendored=$work/project/subprojects/unixdgram
rm -rf "$vendored"
mkdir -p "$vendored/subprojects"

# What a vendored copy needs: the build files, the headers, the binding if
# there is one, the wraps with their build files, the licence.
cp "$source_root/meson.build" "$source_root/meson_options.txt" "$source_root/LICENSE" "$vendored/"
cp -R "$source_root/include" "$vendored/"
if [[ -d $source_root/bindings ]]; then
    cp -R "$source_root/bindings" "$vendored/"
fi
for wrap in "$source_root"/subprojects/*.wrap; do
    [[ -e $wrap ]] && cp "$wrap" "$vendored/subprojects/"
done
if [[ -d $source_root/subprojects/packagefiles ]]; then
    cp -R "$source_root/subprojects/packagefiles" "$vendored/subprojects/"
fi

# run_step NUMBER NAME COMMAND...: one TAP line, and the command's output as
# diagnostics when it fails (the last 200 lines: compiler errors run long).
# Those go to stderr, which is what `meson test --print-errorlogs` shows.
run_step() {
    local number=$1 name=$2
    shift 2
    if "$@" >"$log" 2>&1; then
        echo "ok $number - $name"
        return 0
    fi
    echo "not ok $number - $name"
    tail -n 200 "$log" | sed 's/^/# /' >&2
    return 1
}

setup="meson setup"
compile="meson compile"
run="the consumer runs and receives its datagram"
echo "1..3"
status=1
if run_step 1 "$setup" "$meson" setup --force-fallback-for=unixdgram -Db_colorout=never \
    "$work/build" "$work/project"; then
    if run_step 2 "$compile" "$meson" compile -C "$work/build"; then
        if run_step 3 "$run" "$work/build/consumer"; then
            sed 's/^/# /' "$log"
            status=0
        fi
    else
        echo "ok 3 - $run # SKIP it was not built"
    fi
else
    echo "ok 2 - $compile # SKIP setup failed"
    echo "ok 3 - $run # SKIP setup failed"
fi
exit "$status"
