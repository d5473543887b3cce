-- filesystem.path: socket addresses as exact bytes.
local tap = require "tap"
local ud = require "unixdgram"
local path = ud.filesystem.path

local p = path.new("/tmp/x.socket")
tap.is(tostring(p), "/tmp/x.socket", "tostring gives the bytes back")
tap.is(getmetatable(p), "filesystem.path", "getmetatable gives filesystem.path")
tap.is(debug.getmetatable(p).__name, "filesystem.path", "__name is filesystem.path")
tap.ok(p == path.new("/tmp/x.socket"), "== compares the bytes")
tap.ok(p ~= path.new("/tmp/y.socket"), "~= too")
tap.ok(p ~= "/tmp/x.socket", "a path is not a string")
local abstract = path.new("\0name\0with nuls")
tap.is(#tostring(abstract), 15, "embedded NULs are kept")
tap.is(tostring(abstract):byte(1), 0, "a leading NUL is kept: an abstract name")
tap.is(tostring(path.new("")), "", "the empty path")
local joined = p .. ".old"
tap.is(getmetatable(joined), "filesystem.path", "path .. string is a path")
tap.is(tostring(joined), "/tmp/x.socket.old", "concatenated without a separator")
tap.is(tostring("/run" .. path.new("/x")), "/run/x", "string .. path is a path")
tap.is(tostring(path.new("a") .. path.new("b")), "ab", "path .. path")
tap.raises({name = "EINVAL", arg = 1, message = "string expected, got number"},
    "new(number) raises: no coercion", path.new, 42)
tap.raises({name = "EINVAL", arg = 1}, "new() raises", path.new)
tap.raises({name = "EINVAL", arg = 1}, "new(path) raises", path.new, p)
tap.raises({name = "EINVAL", message = "filesystem.path or string expected"},
    "path .. number raises", function() return p .. 1 end)
tap.raises({name = "EINVAL"}, "table .. path raises", function() return {} .. p end)

ud.run()
tap.done()
