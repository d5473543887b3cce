-- One process hands an open file to another. The parent opens a file and
-- sends its descriptor; the child, this same script started again, receives
-- it and reads the file through it, though it never opened it by name.
--
--   unixdgram-lua example/lua/pass_fd.lua
--
-- It also runs under stock lua5.4, when require "unixdgram" finds the module.

if not unix then
    -- Run by stock lua5.4: take the names from the module.
    local ud = require "unixdgram"
    unix, byte_span, filesystem, file_descriptor, spawn, sleep =
        ud.unix, ud.byte_span, ud.filesystem, ud.file_descriptor, ud.spawn, ud.sleep
end

local role, socket_path = arg[1], arg[2]

if role == "child" then
    local sock = unix.datagram_socket.new()
    sock:open()
    sock:bind(filesystem.path.new(socket_path))
    io.write("ready\n")
    io.flush()
    local buf = byte_span.new(64)
    local n, fds = sock:receive_with_fds(buf, 1)
    local file = fds[1]:to_file("r")
    file:seek("set", 0)
    print(string.format("child: got %q and a descriptor; the file says %q",
        tostring(buf:slice(1, n)), file:read("a")))
    file:close()
    sock:close()
    return
end

socket_path = os.tmpname()
-- os.tmpname makes a file of a new name; the socket takes its place, and bind
-- refuses the name should anything hold it again meanwhile.
os.remove(socket_path)
-- The command line that runs this script: arg's negative indexes hold the
-- program and its options (lua5.4 -e ...), arg[0] the script.
local command = {}
local first = -1
while arg[first - 1] do
    first = first - 1
end
for at = first, 0 do
    command[#command + 1] = "'" .. arg[at]:gsub("'", "'\\''") .. "'"
end
command = table.concat(command, " ") .. " child '" .. socket_path .. "'"
local child = assert(io.popen(command))
assert(child:read("l") == "ready", "the child did not start")

local secret = io.tmpfile()
secret:write("contents only the parent could open")
secret:flush()
local fd = file_descriptor.from_file(secret)

local sock = unix.datagram_socket.new()
sock:open()
sock:send_to_with_fds("here is a file", filesystem.path.new(socket_path), {fd})
print("parent: sent " .. tostring(fd))
fd:close()
secret:close()

print(child:read("a"))
assert(child:close(), "the child failed")
os.remove(socket_path)
