-- The reference's example of unix.datagram_socket, made runnable: a sender
-- fiber provides the datagram the main fiber waits for.
--
--   unixdgram-lua example/lua/receive.lua [SOCKET_PATH]

if not unix then
    -- Run by stock lua5.4: take the names from the module.
    local ud = require "unixdgram"
    unix, byte_span, filesystem, file_descriptor, spawn, sleep =
        ud.unix, ud.byte_span, ud.filesystem, ud.file_descriptor, ud.spawn, ud.sleep
end

local socket_path = arg and arg[1]
if not socket_path then
    -- os.tmpname makes a file of a new name; the socket takes its place, and
    -- bind refuses the name should anything hold it again meanwhile.
    socket_path = os.tmpname()
end
os.remove(socket_path)

local sock = unix.datagram_socket.new()
sock:open()
sock:bind(filesystem.path.new(socket_path))

spawn(function()
    local sender = unix.datagram_socket.new()
    sender:open()
    sender:send_to("hello, datagram", filesystem.path.new(socket_path))
end)

local buf = byte_span.new(1024)
local nread = sock:receive(buf)
print(buf:slice(1, nread))

sock:close()
os.remove(socket_path)
