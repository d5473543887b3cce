-- LuaRocks package of unixdgram's Lua 5.4 binding: the module loaded by
-- require "unixdgram".
--
--   luarocks make                                   # into the default tree
--   luarocks --tree DIR --lua-version 5.4 make      # into DIR
--
-- Built by Meson, with the "command" build type, rather than by LuaRocks's
-- builtin type: the module is C++20 on header-only Asio, and meson.build
-- already says how to build it (the sources, C++20, the compile definitions,
-- finding Asio 1.22 or falling back to its wrap, position-independent objects
-- made into a module that takes Lua from the interpreter). A second build
-- description here would drift from it each time a source file is added,
-- and LuaRocks's builtin type compiles with the C compiler's flags and links
-- without the C++ runtime. The cost is that meson and ninja must be
-- installed (Debian: meson, ninja-build), beside g++, libasio-dev and
-- liblua5.4-dev.
--
-- Meson finds Lua 5.4 and Asio as the rest of the build does (pkg-config,
-- the system's headers), not through LuaRocks's LUA_INCDIR: the module is
-- for the system's lua5.4.
--
-- The version is meson.build's; test/install/check_versions.sh fails when
-- this file's name or version field says otherwise.
rockspec_format = "3.0"
package = "unixdgram"
version = "0.2.0-1"
-- `luarocks make` builds the checkout it runs in and reads no source. The
-- project publishes no repository address yet: `luarocks install` from a
-- rocks server needs this url set to one first.
source = {
   url = "git+file:///unixdgram",
   tag = "v0.2.0",
}
description = {
   summary = "UNIX-domain datagram sockets with descriptor passing, for Lua 5.4",
   detailed = [[
Emilua's unix.datagram_socket API for stock Lua 5.4: AF_UNIX datagram
sockets that pass open files (SCM_RIGHTS) and credentials, byte_span,
filesystem.path, file_descriptor, and fibers whose blocking calls yield.
Built on the header-only C++20 library unixdgram and standalone Asio.
]],
   license = "BSL-1.0",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "command",
   -- A build directory of its own, set up afresh (--wipe) when it exists.
   build_command = [[
      set -e
      if [ -f build/luarocks/meson-private/coredata.dat ]; then wipe=--wipe; else wipe=; fi
      meson setup $wipe build/luarocks --buildtype=release -Dlua=enabled -Dtests=disabled \
         -Dexamples=false -Dbenchmarks=false
      meson compile -C build/luarocks bindings/lua/unixdgram:shared_module
   ]],
   install = {
      lib = {
         unixdgram = "build/luarocks/bindings/lua/unixdgram.so",
      },
   },
}
