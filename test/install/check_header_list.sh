#!/usr/bin/env bash
# Checks the root meson.build's list of public headers, which the install and
# the self-containment tests use, against the source tree: each listed header
# exists, and each header in a listed directory (detail/ and impl/ aside,
# which are parts of the others) is listed. Prints TAP.
#
#   check_header_list.sh SOURCE_ROOT DIRECTORY:HEADER...
set -uo pipefail
source_root=${1:?usage: check_header_list.sh SOURCE_ROOT DIRECTORY:HEADER...}
shift

declare -A listed=() directories=()
for entry in "$@"; do
    listed[$entry]=1
    directories[${entry%%:*}]=1
done

on_disk=()
for directory in "${!directories[@]}"; do
    while read -r header; do
        on_disk+=("$directory:${header#"$source_root/$directory"/}")
    done < <(find "$source_root/$directory" -name '*.hpp' \
        -not -path '*/detail/*' -not -path '*/impl/*' | sort)
done

echo "1..2"
status=0

missing=()
for entry in "$@"; do
    [[ -f $source_root/${entry%%:*}/${entry#*:} ]] || missing+=("$entry")
done
if ((${#missing[@]} == 0 && $# > 0)); then
    echo "ok 1 - each of the $# listed public headers exists"
else
    echo "not ok 1 - each listed public header exists"
    printf '# listed, not found: %s\n' "${missing[@]}"
    status=1
fi

unlisted=()
for entry in "${on_disk[@]}"; do
    [[ -n ${listed[$entry]:-} ]] || unlisted+=("$entry")
done
if ((${#unlisted[@]} == 0)); then
    echo "ok 2 - each header in ${!directories[*]} is listed"
else
    echo "not ok 2 - each header in ${!directories[*]} is listed"
    printf '# not in unixdgram_public_headers (meson.build): %s\n' "${unlisted[@]}"
    status=1
fi
exit "$status"
