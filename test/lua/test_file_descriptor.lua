-- file_descriptor: ownership of one fd, and the bridge to Lua's io library.
local tap = require "tap"
local ud = require "unixdgram"
local file_descriptor = ud.file_descriptor

-- Work is done in functions whose frames end, so that no stale register
-- keeps a socket alive when descriptors are counted.
local before = tap.fd_baseline(ud)

local file = io.tmpfile()
file:write("some bytes")
file:flush()
local fd = file_descriptor.from_file(file)
tap.is(getmetatable(fd), "file_descriptor", "from_file gives a file_descriptor")
tap.like(tostring(fd), "^/dev/fd/%d+$", "tostring is /dev/fd/N")
file:close()
tap.like(tostring(fd), "^/dev/fd/", "the descriptor outlives the file it came from")
local copy = fd:dup()
tap.ok(tostring(copy) ~= tostring(fd), "dup gives another descriptor")
local reopened = fd:to_file("r")
tap.is(io.type(reopened), "file", "to_file gives a Lua file")
tap.is(tostring(fd), "file_descriptor (closed)",
    "the file_descriptor is closed, as the Lua file now owns the descriptor")
reopened:seek("set", 0)
tap.is(reopened:read("a"), "some bytes", "the Lua file reads through the descriptor")
tap.is(reopened:close(), true, "closing the Lua file succeeds")
local writer = copy:to_file("w")
tap.ok(writer:write("more"), "a file made for writing")
writer:close()

local pipe_read = io.popen("echo from a pipe")
local piped = file_descriptor.from_file(pipe_read):to_file("r")
tap.is(piped:read("l"), "from a pipe", "a popen'd file's descriptor reads the pipe")
piped:close()
pipe_read:close()

local closing = file_descriptor.from_file(io.stdout)
closing:close()
tap.is(tostring(closing), "file_descriptor (closed)", "close() closes")
tap.raises({name = "EBUSY", category = "generic", arg = 1, message = "closed"},
    "close() twice raises EBUSY, as Emilua does", closing.close, closing)
tap.raises({name = "EBUSY", arg = 1, message = "closed"}, "dup of a closed fd raises EBUSY",
    closing.dup, closing)
tap.raises({name = "EBUSY", arg = 1, message = "closed"}, "to_file of a closed fd raises EBUSY",
    closing.to_file, closing, "r")
local open_fd = file_descriptor.from_file(io.stdout)
tap.raises({name = "EINVAL", arg = 2, message = "invalid mode"}, "to_file('x') raises",
    open_fd.to_file, open_fd, "x")
tap.raises({name = "EINVAL", arg = 2, message = "invalid mode"}, "to_file('rw') raises",
    open_fd.to_file, open_fd, "rw")
tap.raises({name = "EINVAL", arg = 2, message = "string expected"}, "to_file(1) raises",
    open_fd.to_file, open_fd, 1)
tap.like(tostring(open_fd), "^/dev/fd/", "a failed to_file leaves the fd owned")
tap.raises({name = "EINVAL", arg = 1, message = "file expected, got string"},
    "from_file(string) raises", file_descriptor.from_file, "/etc/passwd")
local closed_file = io.tmpfile()
closed_file:close()
tap.raises({name = "EINVAL", arg = 1, message = "closed file"}, "from_file(closed file) raises",
    file_descriptor.from_file, closed_file)
tap.raises({name = "EINVAL", message = "call methods with ':'"}, "fd.dup() explains ':'",
    function() return open_fd.dup() end)
do
    local scoped <close> = open_fd
end
tap.is(tostring(open_fd), "file_descriptor (closed)", "a <close> variable closes it")
local gc = debug.getmetatable(open_fd).__gc
gc(open_fd)
gc(open_fd)
tap.ok(true, "__gc twice is harmless")

-- Descriptors nobody closes are closed by the collector.
for _ = 1, 50 do
    file_descriptor.from_file(io.stdout)
end
collectgarbage()
collectgarbage()
tap.is(tap.fd_count(), before, "no descriptor is left open")

ud.run()
tap.done()
