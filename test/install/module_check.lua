-- Run by stock lua5.4 against an installed module (scripts/lib/install.sh:
-- the staged INSTALL_CMOD, the LuaRocks tree): the module found is the one
-- in EXPECTED_DIR, its version is EXPECTED_VERSION, and it works: a datagram
-- carrying an open file crosses a socket pair, and the file reads back.
--
--   lua5.4 module_check.lua EXPECTED_VERSION EXPECTED_DIR
local expected_version, expected_dir = ...
assert(expected_version and expected_dir, "usage: module_check.lua EXPECTED_VERSION EXPECTED_DIR")

local found = assert(package.searchpath("unixdgram", package.cpath))
assert(found == expected_dir .. "/unixdgram.so",
       "require 'unixdgram' would load " .. found .. ", not the one in " .. expected_dir)
local ud = require "unixdgram"
assert(ud.version == expected_version,
       "unixdgram.version is " .. tostring(ud.version) .. ", expected " .. expected_version)

local a, b = ud.unix.datagram_socket.pair()
local file = assert(io.tmpfile())
file:write("read through a passed descriptor")
file:flush()
local descriptor = ud.file_descriptor.from_file(file)
file:close()
a:send_with_fds("a file", { descriptor })
descriptor:close()

local buffer = ud.byte_span.new(32)
local n, fds, flags = b:receive_with_fds(buffer, 4)
assert(tostring(buffer:slice(1, n)) == "a file" and #fds == 1 and flags == 0)
local received = fds[1]:to_file("r")
received:seek("set", 0)
local text = received:read("a")
received:close()
assert(text == "read through a passed descriptor", "read back: " .. tostring(text))
a:close()
b:close()
print(string.format("unixdgram %s from %s: a datagram carried an open file, which read back '%s'",
                    ud.version, found, text))
