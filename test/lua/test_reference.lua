-- The example of the reference text (unix.datagram_socket), made runnable:
-- methods are called with ':', and a sender fiber provides the datagram.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, filesystem, spawn = ud.unix, ud.byte_span, ud.filesystem, ud.spawn

local socket_path = tap.socket_path("9Lq7BNBnBycd6nxy.socket")

local sender = spawn(function()
    local out = unix.datagram_socket.new()
    out:open()
    return out:send_to("hello from the sender", filesystem.path.new(socket_path))
end)

local sock = unix.datagram_socket.new()
sock:open()
sock:bind(filesystem.path.new(socket_path))

local buf = byte_span.new(1024)
local nread = sock:receive(buf)
print("# " .. tostring(buf:slice(1, nread)))

tap.is(sender:join(), 21, "the sender fiber sent its datagram")
tap.is(nread, 21, "receive returned its length")
tap.is(tostring(buf:slice(1, nread)), "hello from the sender", "buf:slice(1, nread) is the datagram")

ud.run()
tap.done()
