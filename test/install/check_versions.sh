#!/usr/bin/env bash
# Checks that every version the source tree states outside meson.build agrees
# with it: the rockspec (its file name and its `version` field, which
# LuaRocks requires to match), and the changelog's latest release. Prints TAP.
#
#   check_versions.sh SOURCE_ROOT VERSION
set -uo pipefail
source_root=${1:?usage: check_versions.sh SOURCE_ROOT VERSION}
version=${2:?usage: check_versions.sh SOURCE_ROOT VERSION}

echo "1..3"
status=0
# check NUMBER NAME COMMAND...
check() {
    local number=$1 name=$2
    shift 2
    if "$@"; then
        echo "ok $number - $name"
    else
        echo "not ok $number - $name"
        status=1
    fi
}

rockspecs=("$source_root"/*.rockspec)
expected=$source_root/unixdgram-$version-1.rockspec
check 1 "the only rockspec is unixdgram-$version-1.rockspec" \
    test "${#rockspecs[@]}" -eq 1 -a "${rockspecs[0]}" = "$expected"
if ((status != 0)); then
    echo "# rockspecs found: ${rockspecs[*]}"
fi

field=$(sed -n 's/^version *= *"\(.*\)"$/\1/p' "$expected" 2>/dev/null)
check 2 "the rockspec's version field is $version-1" test "$field" = "$version-1"
[[ $field = "$version-1" ]] || echo "# version field: '$field'"

latest=$(grep -m 1 -o '^## \[\?[0-9][0-9.]*' "$source_root/CHANGELOG.md" 2>/dev/null | tr -d '#[ ')
check 3 "the changelog's latest release is $version" test "$latest" = "$version"
[[ $latest = "$version" ]] || echo "# latest release in CHANGELOG.md: '$latest'"
exit "$status"
