-- unix.datagram_socket: every method and property, and their errors.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, filesystem, file_descriptor = ud.unix, ud.byte_span, ud.filesystem,
    ud.file_descriptor
local datagram_socket = unix.datagram_socket
local flag = unix.message_flag

local function path(name)
    return filesystem.path.new(tap.socket_path(name))
end

local function my_pid()
    local stat = assert(io.open("/proc/self/stat"))
    local pid = stat:read("n")
    stat:close()
    return pid
end

-- message_flag
tap.is(math.type(flag.peek), "integer", "message_flag.peek is an integer")
tap.ok(flag.truncated ~= 0 and flag.control_truncated ~= 0, "the reported flags are non-zero")
tap.ok(flag.peek ~= flag.truncated and flag.truncated ~= flag.control_truncated,
    "the flags differ")

-- new, open, is_open, close, tostring
local sock = datagram_socket.new()
tap.is(sock.is_open, false, "new() is closed")
tap.is(tostring(sock), "unix.datagram_socket (closed)", "tostring of a closed socket")
sock:open()
tap.is(sock.is_open, true, "open() opens")
tap.like(tostring(sock), "^unix%.datagram_socket %(fd %d+%)$", "tostring shows the fd")
tap.raises({name = "already_open", category = "asio.misc"}, "open() twice raises",
    sock.open, sock)
tap.raises({name = "EINVAL", arg = 1, message = "call methods with ':'"},
    "sock.open() raises an argument error", function() sock.open() end)
tap.raises({name = "EINVAL", message = "unix.datagram_socket expected, got string"},
    "a method on a string raises", sock.open, "not a socket")
sock:close()
tap.is(sock.is_open, false, "close() closes")
tap.lives("close() twice is fine", sock.close, sock)
local buf = byte_span.new(16)
tap.raises({name = "EBADF", category = "system"}, "receive on a closed socket raises EBADF",
    sock.receive, sock, buf)
tap.raises({name = "EBADF"}, "send on a closed socket raises EBADF", sock.send, sock, "x")
tap.raises({name = "EBADF"}, "cancel on a closed socket raises EBADF", sock.cancel, sock)
tap.raises({name = "EBADF"}, "local_path of a closed socket raises EBADF",
    function() return sock.local_path end)
tap.raises({name = "bad_index", category = "unixdgram.lua", index = 2,
    message = "unix.datagram_socket has no field 'no_such_thing'"},
    "an unknown field raises bad_index", function() return sock.no_such_thing end)

-- pair, send, receive, flags
local a, b = datagram_socket.pair()
tap.ok(a.is_open and b.is_open, "pair() gives two open sockets")
tap.is(a:send("hello"), 5, "send returns the bytes sent")
tap.is(b:io_control("bytes_readable"), 5, "io_control('bytes_readable') sees the datagram")
local n, flags = b:receive(buf, flag.peek)
tap.is(n, 5, "receive with peek returns the length")
tap.is(flags, 0, "the receive reports no flags")
n, flags = b:receive(buf)
tap.is(tostring(buf:slice(1, n)), "hello", "the datagram is still there after peeking")
tap.is(b:io_control("bytes_readable"), 0, "bytes_readable is 0 when nothing is queued")
a:send(byte_span.append(nil, "a byte_span"))
n = b:receive(buf)
tap.is(tostring(buf:slice(1, n)), "a byte_span", "a byte_span can be sent")
a:send("this datagram is longer than the buffer")
n, flags = b:receive(byte_span.new(4))
tap.is(n, 4, "a truncated receive returns the buffer's length")
tap.ok(flags & flag.truncated ~= 0, "the truncated receive reports truncated")
tap.ok(flags & flag.control_truncated == 0,
    "the truncated receive does not report control_truncated")
a:send("")
n, flags = b:receive(buf)
tap.is(n, 0, "an empty datagram")
tap.raises({name = "EINVAL", arg = 2, message = "string or byte_span expected, got number"},
    "send(number) raises", a.send, a, 42)
tap.raises({name = "EINVAL", arg = 2, message = "byte_span expected, got string"},
    "receive(string) raises", b.receive, b, "immutable")
tap.raises({name = "EINVAL", arg = 3}, "send with a flag raises", a.send, a, "x", flag.peek)
tap.raises({name = "EINVAL", arg = 3}, "receive with an unknown flag raises",
    b.receive, b, buf, 0x4000)
tap.raises({name = "EINVAL", arg = 3}, "negative flags raise", b.receive, b, buf, -1)
tap.raises({name = "EINVAL", arg = 3}, "flags as a string raise", b.receive, b, buf, "2")

-- named sockets: bind, connect, send_to, receive_from, local/remote_path
local server_path = path("server")
local server = datagram_socket.new()
server:open()
server:bind(server_path)
tap.ok(server.local_path == server_path, "local_path is the bound path")
tap.raises({name = "ENOTCONN"}, "remote_path of an unconnected socket raises ENOTCONN",
    function() return server.remote_path end)
local client = datagram_socket.new()
client:open()
tap.is(tostring(client.local_path), "", "an unbound socket's local_path is empty")
client:bind(tap.socket_path("client"))
tap.is(client:send_to("to server", server_path), 9, "send_to takes a filesystem.path")
local from
n, from, flags = server:receive_from(buf)
tap.is(tostring(buf:slice(1, n)), "to server", "receive_from gets the datagram")
tap.is(tostring(from), tap.socket_path("client"), "receive_from names the sender's path")
tap.is(flags, 0, "receive_from reports no flags")
tap.is(getmetatable(from), "filesystem.path", "the sender is a filesystem.path")
client:connect(server_path)
tap.ok(client.remote_path == server_path, "remote_path after connect")
client:send("connected")
n, from = server:receive_from(buf)
tap.is(tostring(buf:slice(1, n)), "connected", "send on a connected socket")
client:disconnect()
tap.raises({name = "ENOTCONN"}, "remote_path after disconnect raises ENOTCONN",
    function() return client.remote_path end)
tap.raises({name = "ENOTCONN"}, "send after disconnect raises ENOTCONN", client.send, client, "x")
a:send("unnamed")
n, from = b:receive_from(buf)
tap.is(tostring(from), "", "an unnamed sender's path is empty")
tap.raises({name = "ENOENT"}, "send_to a path nobody bound raises ENOENT",
    client.send_to, client, "x", tap.socket_path("nobody"))
tap.raises({name = "EINVAL", arg = 3, message = "filesystem.path or string expected"},
    "send_to a number raises", client.send_to, client, "x", 12)
tap.raises({name = "ENAMETOOLONG", arg = 2, message = "too long"}, "a path too long raises ENAMETOOLONG",
    client.connect, client, string.rep("x", 200))
tap.raises({name = "EINVAL", arg = 2, message = "NUL"}, "a path with a NUL inside raises",
    client.connect, client, "/tmp/a\0b")
tap.raises({name = "EADDRINUSE"}, "binding a bound path raises",
    datagram_socket.new().bind, (function() local s = datagram_socket.new(); s:open(); return s end)(),
    server_path)

-- abstract and autobound addresses
local abstract = datagram_socket.new()
abstract:open()
local abstract_name = "\0unixdgram-lua-test-" .. my_pid()
abstract:bind(filesystem.path.new(abstract_name))
tap.is(tostring(abstract.local_path), abstract_name, "an abstract name, length-exact")
client:send_to("abstract", abstract_name)
n = abstract:receive(buf)
tap.is(tostring(buf:slice(1, n)), "abstract", "a datagram to an abstract name")
local auto = datagram_socket.new()
auto:open()
auto:bind("")
local autoname = tostring(auto.local_path)
tap.ok(#autoname == 6 and autoname:byte(1) == 0, "binding the empty path autobinds")

-- shutdown
local c, d = datagram_socket.pair()
c:shutdown("send")
tap.raises({name = "EPIPE"}, "send after shutdown('send') raises EPIPE", c.send, c, "x")
d:shutdown("receive")
d:shutdown("both")
tap.raises({name = "EINVAL", arg = 2, message = "'receive', 'send' or 'both'"},
    "shutdown('sideways') raises", c.shutdown, c, "sideways")
tap.raises({name = "EINVAL", arg = 2}, "shutdown(1) raises", c.shutdown, c, 1)

-- options
local e, f = datagram_socket.pair()
e:set_option("send_buffer_size", 65536)
tap.ok(e:get_option("send_buffer_size") >= 65536, "send_buffer_size round-trips")
e:set_option("receive_buffer_size", 32768)
tap.ok(e:get_option("receive_buffer_size") >= 32768, "receive_buffer_size round-trips")
tap.is(e:get_option("pass_credentials"), false, "pass_credentials is off at first")
e:set_option("pass_credentials", true)
tap.is(e:get_option("pass_credentials"), true, "pass_credentials can be set")
local debug_ok = pcall(e.set_option, e, "debug", true)
if debug_ok then
    tap.is(e:get_option("debug"), true, "debug can be set")
else
    tap.is(e:get_option("debug"), false, "debug needs CAP_NET_ADMIN; it stays off")
end
local credentials = e:get_option("peer_credentials")
tap.is(credentials.pid, my_pid(), "peer_credentials of a pair names this process")
tap.is(math.type(credentials.uid), "integer", "peer_credentials has an integer uid")
tap.is(math.type(credentials.gid), "integer", "peer_credentials has an integer gid")
tap.raises({name = "ENOTCONN"}, "peer_credentials of an unconnected socket raises",
    server.get_option, server, "peer_credentials")
local unknown = tap.raises({name = "EOPNOTSUPP", category = "generic", arg = 2},
    "an unknown option raises ENOTSUP (EOPNOTSUPP on Linux), as Emilua does",
    e.set_option, e, "frobnicate", true)
tap.like(unknown and unknown.message, "send_buffer_size",
    "the unknown option's error names the known options")
tap.raises({name = "EOPNOTSUPP", arg = 2, message = "pass_credentials"},
    "get_option of an unknown one raises ENOTSUP",
    e.get_option, e, "colour")
tap.raises({name = "EINVAL", arg = 2, message = "read only"}, "peer_credentials is read only",
    e.set_option, e, "peer_credentials", {})
tap.raises({name = "EINVAL", arg = 3, message = "boolean expected"}, "debug needs a boolean",
    e.set_option, e, "debug", 1)
tap.raises({name = "EINVAL", arg = 3}, "a negative buffer size raises",
    e.set_option, e, "send_buffer_size", -1)
tap.raises({name = "EINVAL", arg = 3}, "a buffer size as a string raises",
    e.set_option, e, "send_buffer_size", "1024")
tap.raises({name = "EINVAL", arg = 2}, "an option name as a number raises",
    e.get_option, e, 1)
local ioerr = tap.raises({name = "EOPNOTSUPP", category = "generic", arg = 2},
    "an unknown io_control raises ENOTSUP",
    e.io_control, e, "frobnicate")
tap.like(ioerr and ioerr.message, "bytes_readable",
    "the unknown io_control's error names the known commands")
tap.raises({name = "EINVAL", arg = 3}, "bytes_readable takes no argument",
    e.io_control, e, "bytes_readable", 1)

-- credentials reported with a datagram
f:send("who")
local _, fds, cflags, sender = e:receive_with_fds(buf, 1)
tap.is(#fds, 0, "no descriptors came")
tap.is(cflags, 0, "the receive of nothing but descriptors reports no flags")
tap.is(sender and sender.pid, my_pid(), "pass_credentials reports the sender after the flags")

-- release, new(fd), assign
local g, h = datagram_socket.pair()
local fd = g:release()
tap.is(g.is_open, false, "release() closes the socket object")
tap.is(getmetatable(fd), "file_descriptor", "release() returns a file_descriptor")
tap.raises({name = "EBADF"}, "release() of a closed socket raises", g.release, g)
local adopted = datagram_socket.new(fd)
tap.is(tostring(fd), "file_descriptor (closed)", "new(fd) takes the descriptor")
h:send("adopted")
n = adopted:receive(buf)
tap.is(tostring(buf:slice(1, n)), "adopted", "the adopted socket works")
local fd2 = adopted:release()
g:assign(fd2)
tap.is(g.is_open, true, "assign(fd) opens the socket")
h:send("assigned")
n = g:receive(buf)
tap.is(tostring(buf:slice(1, n)), "assigned", "the assigned socket works")
tap.raises({name = "EBUSY", category = "generic", arg = 1, message = "closed"},
    "new(closed fd) raises EBUSY",
    datagram_socket.new, fd2)
tap.raises({name = "EBUSY", category = "generic", arg = 2, message = "closed"},
    "assign(closed fd) raises EBUSY",
    g.assign, g, fd)
local spare = g:release()
local other = datagram_socket.new()
other:open()
tap.raises({name = "already_open"}, "assign to an open socket raises", other.assign, other, spare)
tap.ok(tostring(spare):find("^/dev/fd/"), "a failed assign leaves the fd owned")
local file = io.tmpfile()
local file_fd = file_descriptor.from_file(file)
tap.raises({name = "not_a_unix_datagram_socket", category = "unixdgram"},
    "new(fd of a file) raises", datagram_socket.new, file_fd)
tap.ok(tostring(file_fd):find("^/dev/fd/"), "a refused new(fd) leaves the fd owned")
file_fd:close()
file:close()
spare:close()
tap.raises({name = "EINVAL", arg = 1, message = "file_descriptor expected, got number"},
    "new(number) raises", datagram_socket.new, 3)

-- __close and __gc
do
    local scoped <close> = datagram_socket.new()
    scoped:open()
    sock = scoped
end
tap.is(sock.is_open, false, "a <close> variable closes the socket")
sock:open()
tap.is(sock.is_open, true, "a closed-by-__close socket can be opened again")
local gc = debug.getmetatable(sock).__gc
gc(sock)
gc(sock)
tap.is(sock.is_open, false, "__gc twice is harmless")
tap.raises({name = "EBADF"}, "a collected socket raises EBADF", sock.send, sock, "x")

-- Methods are found in tables: a method call makes one call into C, the
-- method's, as a string method does (the call hook sees C functions too).
local function calls_made(f)
    local count = 0
    debug.sethook(function() count = count + 1 end, "c")
    f()
    debug.sethook()
    return count
end
do
    local a, b = datagram_socket.pair()
    local fd = file_descriptor.from_file(io.stdout):dup()
    local text = "x"
    local one_c_call = calls_made(function() return text:len() end)
    tap.is(calls_made(function() return a:send("x") end), one_c_call,
        "a socket method call is one C call")
    tap.is(calls_made(function() return b:receive(buf) end), one_c_call,
        "so is a receive")
    tap.is(calls_made(function() return fd:close() end), one_c_call,
        "so is a file_descriptor method call")
    tap.is(calls_made(function() return a.is_open end), one_c_call,
        "a property read is one C call")
    tap.is(a.is_open, true, "is_open is found behind the methods")
    a:close()
    tap.is(a.is_open, false, "and follows the socket")
    b:close()
end

-- The methods table of a socket is reached only through the debug library;
-- what it leads to stays closed, and errs rather than crashes.
do
    local s = datagram_socket.new()
    local methods = debug.getmetatable(s).__index
    tap.is(getmetatable(methods), "unix.datagram_socket",
        "a socket's methods table has a closed metatable")
    local lookup = debug.getmetatable(methods).__index
    tap.ok(not pcall(lookup, 1, "is_open"), "its property lookup called on a number raises")
    tap.ok(not pcall(lookup, {}, "is_open"), "and on a table that is no socket's")
    tap.is(lookup(methods, "is_open"), false, "and on the socket's own methods finds the property")
    s:close()
end

-- __close ends a socket's scope, not its life: it can be opened again.
do
    local s = datagram_socket.new()
    s:open()
    do
        local scoped <close> = s
    end
    tap.is(s.is_open, false, "a <close> variable closes the socket")
    s:open()
    tap.is(s.is_open, true, "which open() opens again")
    s:close()
end

ud.run()
tap.done()
