# shellcheck shell=bash
# Sourced by scripts/test and scripts/demo.

# require_debian_packages PACKAGE...: installs whichever of the Debian packages
# are missing (as root), or says how to and exits (as anyone else).
require_debian_packages() {
    local missing=() package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$package")
        fi
    done
    ((${#missing[@]} == 0)) && return 0

    if ((EUID != 0)); then
        echo "Missing Debian packages. Install them with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "Installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# setup_build DIR OPTION...: configures DIR, reconfiguring an existing build
# directory and starting afresh when that fails (say, after a Meson upgrade).
setup_build() {
    local dir=$1
    shift
    if [[ -f $dir/meson-private/coredata.dat ]]; then
        meson setup --reconfigure "$dir" "$@" || meson setup --wipe "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}
