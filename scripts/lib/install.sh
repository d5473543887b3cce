# shellcheck shell=bash
# Sourced by scripts/test: the packaging checks. Each installs or builds the
# way a user would and then uses what it got.
#
#   build/install         meson setup + meson install --destdir build/install/stage
#     headers             each installed public header compiles on its own (beside
#                         the checks below, which use one core as it does)
#     pkg-config          test/install/consumer.cpp, built with pkg-config unixdgram
#     Lua host            test/install/lua_host.cpp, built with pkg-config unixdgram-lua
#     INSTALL_CMOD        stock lua5.4 loads the staged module from Lua's INSTALL_CMOD
#     CMake               test/cmake_consumer, find_package(unixdgram) in the stage
#     definitions         the Meson dependency, both .pc files and the CMake target
#                         give the same compile definitions
#   build/luarocks-tree   luarocks --tree ... --lua-version 5.4 make, then lua5.4 through
#                         the tree's paths
#   build/docs            scripts/docs: Doxygen, every warning an error
#
# packaging_steps runs them all through scripts/test's `record`.

packaging_packages=(doxygen luarocks cmake gnuplot-nox)

install_build=build/install
install_stage=$PWD/$install_build/stage
install_prefix=/usr/local

# The project's version, as Meson has it.
project_version() {
    meson introspect --projectinfo "$install_build" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])'
}

# Builds the release configuration and stages an install of it. The .pc files
# are made relocatable (prefix=${pcfiledir}/...) here, so that pkg-config
# finds the staged headers and library; the CMake package is relocatable as
# it is.
install_staged() {
    setup_build "$install_build" --prefix="$install_prefix" --buildtype=release \
        -Dtests=disabled -Dexamples=false -Dlua=enabled -Dpkgconfig.relocatable=true &&
        meson compile -C "$install_build" &&
        rm -rf --one-file-system "$install_stage" &&
        meson install -C "$install_build" --destdir "$install_stage" --quiet &&
        echo "staged install:" &&
        (cd "$install_stage" && find . -type f | sort | sed 's|^\.|  |')
}

staged_pkgconfig() {
    local libdir
    libdir=$(meson introspect --buildoptions "$install_build" |
        python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"))')
    PKG_CONFIG_PATH=$install_stage$install_prefix/$libdir/pkgconfig pkg-config "$@"
}

# Each installed public header, included twice in a file of its own (the
# second include tests its guard), compiles with the flags pkg-config gives.
# detail/ and impl/ are parts of the public headers, compiled through them.
installed_headers_compile() {
    local include_dir=$install_stage$install_prefix/include header flags failed=0 count=0
    read -r -a flags < <(staged_pkgconfig --cflags unixdgram-lua) || return 1
    while read -r header; do
        header=${header#"$include_dir"/}
        if printf '#include <%s>\n#include <%s>\nint main() {}\n' "$header" "$header" |
            g++ -std=c++20 -Wall -Wextra -Wpedantic -fsyntax-only "${flags[@]}" -x c++ -; then
            echo "  compiles alone: $header"
            count=$((count + 1))
        else
            echo "  does NOT compile alone: $header" >&2
            failed=1
        fi
    done < <(find "$include_dir" -name '*.hpp' -not -path '*/detail/*' -not -path '*/impl/*' | sort)
    ((count > 0)) || { echo "no installed headers found in $include_dir" >&2; return 1; }
    return "$failed"
}

installed_pkgconfig_consumer() {
    local flags out=$install_build/pkgconfig_consumer
    read -r -a flags < <(staged_pkgconfig --cflags --libs unixdgram) || return 1
    echo "g++ -std=c++20 test/install/consumer.cpp \$(pkg-config --cflags --libs unixdgram)"
    echo "  = ${flags[*]}"
    g++ -std=c++20 test/install/consumer.cpp "${flags[@]}" -o "$out" && "$out" "$(project_version)"
}

installed_lua_host() {
    local flags out=$install_build/pkgconfig_lua_host
    read -r -a flags < <(staged_pkgconfig --cflags --libs unixdgram-lua) || return 1
    echo "g++ -std=c++20 test/install/lua_host.cpp \$(pkg-config --cflags --libs unixdgram-lua)"
    echo "  = ${flags[*]}"
    g++ -std=c++20 test/install/lua_host.cpp "${flags[@]}" -o "$out" && "$out" "$(project_version)"
}

# The module where meson install put it: Lua's INSTALL_CMOD, unless
# -Dlua_cmod_dir said otherwise (this build does not).
installed_lua_module() {
    local cmod
    cmod=$(pkg-config --variable=INSTALL_CMOD lua-5.4 2>/dev/null ||
        pkg-config --variable=INSTALL_CMOD lua5.4) || return 1
    echo "lua5.4 -e 'package.cpath=\"<stage>$cmod/?.so\"' test/install/module_check.lua"
    [[ -f $install_stage$cmod/unixdgram.so ]] || {
        echo "no unixdgram.so in INSTALL_CMOD ($cmod) of the staged install" >&2
        return 1
    }
    lua5.4 -e "package.cpath='$install_stage$cmod/?.so'" test/install/module_check.lua \
        "$(project_version)" "$install_stage$cmod"
}

installed_cmake_consumer() {
    local dir=$install_build/cmake_consumer version
    version=$(project_version) || return 1
    rm -rf --one-file-system "$dir"
    echo "cmake -S test/cmake_consumer -B $dir -DCMAKE_PREFIX_PATH=<stage>$install_prefix"
    cmake -S test/cmake_consumer -B "$dir" -DCMAKE_PREFIX_PATH="$install_stage$install_prefix" \
        -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$dir" &&
        "$dir/consumer" "$version" &&
        "$dir/lua_host" "$version"
}

# definitions_of WORD...: the macros the -D words among WORDs define, one a
# line, sorted.
definitions_of() {
    local word
    for word in "$@"; do
        [[ $word == -D* ]] && printf '%s\n' "${word#-D}"
    done | sort -u
}

# What a program compiled against unixdgram is given to define is the same
# whichever way it finds the library: the Meson dependency (as the binding's
# library was compiled through it), unixdgram.pc, unixdgram-lua.pc and the
# CMake target (which installed_cmake_consumer wrote out). All come from
# meson.build's unixdgram_compile_definitions; this fails when one drifts.
installed_compile_definitions_agree() {
    local lua_words meson_words pc_words pc_lua_words cmake_list
    local lua meson pc pc_lua cmake
    read -r -a lua_words < <(pkg-config --cflags lua-5.4 2>/dev/null ||
        pkg-config --cflags lua5.4) || return 1
    lua=$(definitions_of "${lua_words[@]}")
    # Meson defines _FILE_OFFSET_BITS=64 in every compile of its own.
    mapfile -t meson_words < <(meson introspect --targets "$install_build" | python3 -c '
import json, sys
for target in json.load(sys.stdin):
    if target["name"] == "unixdgram-lua" and target["type"] == "static library":
        for sources in target["target_sources"]:
            print("\n".join(sources["parameters"]))')
    ((${#meson_words[@]} > 0)) || { echo "no compile of unixdgram-lua in $install_build" >&2; return 1; }
    meson=$(comm -23 <(definitions_of "${meson_words[@]}") <(printf '%s\n' "$lua" _FILE_OFFSET_BITS=64 | sort -u))
    read -r -a pc_words < <(staged_pkgconfig --cflags unixdgram) || return 1
    pc=$(definitions_of "${pc_words[@]}")
    read -r -a pc_lua_words < <(staged_pkgconfig --cflags unixdgram-lua) || return 1
    pc_lua=$(comm -23 <(definitions_of "${pc_lua_words[@]}") <(printf '%s\n' "$lua"))
    cmake_list=$install_build/cmake_consumer/unixdgram_compile_definitions.txt
    [[ -f $cmake_list ]] || { echo "no $cmake_list (test/cmake_consumer writes it)" >&2; return 1; }
    cmake=$(tr ';' '\n' <"$cmake_list" | sed '/^$/d' | sort -u)
    local name failed=0
    for name in meson pc pc_lua cmake; do
        printf '  %-7s %s\n' "$name:" "$(echo ${!name})"
    done
    for name in pc pc_lua cmake; do
        if [[ ${!name} != "$meson" ]]; then
            echo "  $name defines '$(echo ${!name})', the Meson dependency '$(echo $meson)'" >&2
            failed=1
        fi
    done
    return "$failed"
}

# luarocks make with the rockspec at the root, into a tree of its own, then
# stock lua5.4 with the paths `luarocks path` gives for that tree.
luarocks_make_tree() {
    local tree=$PWD/build/luarocks-tree version rockspec
    version=$(project_version) || return 1
    rockspec=unixdgram-$version-1.rockspec
    rm -rf --one-file-system "$tree"
    echo "luarocks --tree $tree --lua-version 5.4 make $rockspec"
    luarocks --tree "$tree" --lua-version 5.4 make "$rockspec" || return 1
    luarocks --tree "$tree" --lua-version 5.4 list
    (
        eval "$(luarocks --tree "$tree" --lua-version 5.4 path)" &&
            echo "LUA_CPATH=$LUA_CPATH" &&
            lua5.4 test/install/module_check.lua "$version" "$tree/lib/lua/5.4"
    )
}

# finish_in_background PID LOG: waits for a step started with its output to
# LOG, then shows that output; fails as the step did.
finish_in_background() {
    local status=0
    wait "$1" || status=$?
    cat "$2"
    return "$status"
}

packaging_steps() {
    echo "== build/install: meson install --destdir, then what it installed =="
    record build/install "meson install --destdir" install_staged
    # The installed headers are compiled (16 s, one g++ at a time) beside the
    # consumers' checks that follow (19 s, one compiler or CMake at a time):
    # two jobs, where each alone left a core idle. Their output follows them.
    local headers_log=$install_build/installed_headers.log headers_pid
    installed_headers_compile >"$headers_log" 2>&1 &
    headers_pid=$!
    record build/install "a C++ consumer built with pkg-config unixdgram runs" \
        installed_pkgconfig_consumer
    record build/install "a Lua host built with pkg-config unixdgram-lua runs" installed_lua_host
    record build/install "lua5.4 loads the module from INSTALL_CMOD" installed_lua_module
    echo "== build/install/cmake_consumer: find_package(unixdgram) in the staged install =="
    record build/install "a CMake consumer of unixdgram::unixdgram and unixdgram::lua runs" \
        installed_cmake_consumer
    record build/install "the Meson dependency, the .pc files and the CMake target define the same" \
        installed_compile_definitions_agree
    echo "== build/install: each installed header compiles on its own (beside the above) =="
    record build/install "each installed header compiles on its own; the time is the wait after the above" \
        finish_in_background "$headers_pid" "$headers_log"
    echo "== build/luarocks-tree: luarocks make into a throwaway tree =="
    record build/luarocks-tree "luarocks make, then lua5.4 through luarocks path" \
        luarocks_make_tree
    echo "== build/docs: the C++ API reference, warnings as errors =="
    record build/docs "scripts/docs: Doxygen without a warning" scripts/docs
}
