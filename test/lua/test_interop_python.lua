-- Interoperation with another program: python3 passes descriptors to a Lua
-- fiber (socket.send_fds), and receives one from Lua (socket.recv_fds).
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, filesystem, file_descriptor, spawn =
    ud.unix, ud.byte_span, ud.filesystem, ud.file_descriptor, ud.spawn

-- Without the sanitizer runtimes a sanitized lua5.4 run preloads.
local python = "env -u LD_PRELOAD " .. (os.getenv("PYTHON3") or "python3")
if not os.execute(python .. " -c 'import socket; socket.send_fds' 2>/dev/null") then
    print("1..0 # SKIP python3 with socket.send_fds is not available")
    return
end

local lua_path = tap.socket_path("lua.socket")
local python_path = tap.socket_path("python.socket")
local sock = unix.datagram_socket.new()
sock:open()
sock:bind(lua_path)

-- python3 sends two descriptors (a file it wrote, and a pipe), then waits for
-- one back and prints what it reads from it.
local script = [[
import os, socket, sys, tempfile
lua_path, python_path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(python_path)
s.connect(lua_path)
f = tempfile.TemporaryFile()
f.write(b"written by python")
f.flush()
r, w = os.pipe()
os.write(w, b"through a pipe")
os.close(w)
socket.send_fds(s, [b"two fds"], [f.fileno(), r])
msg, fds, flags, addr = socket.recv_fds(s, 100, 4)
data = os.pread(fds[0], 100, 0)
print(msg.decode(), len(fds), data.decode(), flush=True)
]]
local script_path = tap.socket_path("helper.py")
local script_file = assert(io.open(script_path, "w"))
script_file:write(script)
script_file:close()
local command = string.format("%s '%s' '%s' '%s'", python, script_path, lua_path, python_path)
local child = assert(io.popen(command, "r"))

local got = spawn(function()
    local buf = byte_span.new(64)
    local n, from, fds, flags = sock:receive_from_with_fds(buf, 8)
    local contents = {}
    for i, fd in ipairs(fds) do
        local file = fd:to_file("r")
        if i == 1 then
            file:seek("set", 0)
        end
        contents[i] = file:read("a")
        file:close()
    end
    return tostring(buf:slice(1, n)), tostring(from), #fds, flags, contents
end)

-- Should python fail, the receive would wait forever: a watchdog ends it.
local watchdog = spawn(function()
    ud.sleep(20)
    got:interrupt()
end)
local message, from, count, flags, contents = got:join()
watchdog:interrupt()
pcall(watchdog.join, watchdog)
tap.is(message, "two fds", "a Lua fiber receives python's datagram")
tap.is(from, python_path, "the datagram names python's address")
tap.is(count, 2, "the datagram brings both descriptors")
tap.is(flags, 0, "the receive reports no flags")
tap.is(contents[1], "written by python", "the first is python's file")
tap.is(contents[2], "through a pipe", "the second is python's pipe")

local reply = io.tmpfile()
reply:write("written by lua")
reply:flush()
local reply_fd = file_descriptor.from_file(reply)
tap.is(sock:send_to_with_fds("one fd", filesystem.path.new(python_path), {reply_fd}), 6,
    "Lua sends python a descriptor")
reply_fd:close()
reply:close()
local line = child:read("l")
tap.is(line, "one fd 1 written by lua", "python reads the file through it")
tap.ok(child:close(), "python3 exits successfully")

ud.run()
tap.done()
