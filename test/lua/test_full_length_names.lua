-- Addresses that fill all 108 bytes of sun_path, with no terminating NUL:
-- an abstract name ("\0" and 107 bytes) and a 108-byte path. The kernel
-- accepts both; a datagram from such a peer must reach every receive form
-- with the exact name, and Lua must bind, connect and send to such names.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, filesystem, spawn, sleep =
    ud.unix, ud.byte_span, ud.filesystem, ud.spawn, ud.sleep
local datagram_socket = unix.datagram_socket

local sun_path_size = 108
-- The pid, not the time: the host's run and lua5.4's can start in the same
-- second, and the second to bind the name got EADDRINUSE.
local function abstract_name(tag)
    local head = "\0unixdgram-lua-" .. tag .. "-" .. tap.pid() .. "-"
    return head .. string.rep("L", sun_path_size - #head)
end
local function long_path(tag)
    local head = tap.socket_path(tag .. "-")
    return head .. string.rep("P", sun_path_size - #head)
end
local names = {
    {"a 108-byte abstract name", abstract_name("a")},
    {"a 108-byte path", long_path("p")},
}
for _, entry in ipairs(names) do
    assert(#entry[2] == sun_path_size)
end

local function same_path(got, expected)
    return got ~= nil and tostring(got) == expected
end

local function receiver()
    local sock = datagram_socket.new()
    sock:open()
    sock:bind(tap.socket_path("receiver-" .. tostring(math.random(1 << 30))))
    return sock
end

for _, entry in ipairs(names) do
    local what, name = entry[1], entry[2]
    local peer = datagram_socket.new()
    peer:open()
    local bound = tap.lives("bind to " .. what, peer.bind, peer, name)
    tap.ok(same_path(peer.local_path, name), "local_path of a socket bound to " .. what ..
        " is exact", peer.local_path and #tostring(peer.local_path))

    local sock = receiver()
    local buffer = byte_span.new(64)

    -- Each receive form, with the datagram queued already. (Without the
    -- bind above, the peer is unnamed: the checks fail, nothing waits.)
    tap.lives("send_to a socket named by " .. what .. " succeeds", peer.send_to, peer, "one",
        sock.local_path)
    local ok, n, sender = pcall(sock.receive_from, sock, buffer)
    tap.ok(ok and n == 3 and same_path(sender, name),
        "receive_from gives the exact sender " .. what, ok and sender and #tostring(sender) or n)

    peer:send_to("two", sock.local_path)
    local fds, flags
    ok, n, sender, fds = pcall(sock.receive_from_with_fds, sock, buffer, 4)
    tap.ok(ok and n == 3 and same_path(sender, name) and #fds == 0,
        "receive_from_with_fds gives the exact sender " .. what, ok and sender and #tostring(sender) or n)

    -- And waiting: the datagram arrives after the call started (the async forms).
    local late = spawn(function()
        sleep(0.01)
        peer:send_to("three", sock.local_path)
        sleep(0.01)
        peer:send_to("four", sock.local_path)
    end)
    ok, n, sender = pcall(sock.receive_from, sock, buffer)
    tap.ok(ok and n == 5 and same_path(sender, name),
        "a waiting receive_from gives the exact sender " .. what, ok and sender and #tostring(sender) or n)
    ok, n, sender = pcall(sock.receive_from_with_fds, sock, buffer, 4)
    tap.ok(ok and n == 4 and same_path(sender, name),
        "a waiting receive_from_with_fds gives the exact sender " .. what,
        ok and sender and #tostring(sender) or n)
    late:join()

    -- send_to and connect to the full-length name, and its reply path.
    local client = datagram_socket.new()
    client:open()
    -- (A receive follows only a send that went: none may wait forever.)
    local sent_ok, sent_err = pcall(client.send_to, client, "to", name)
    tap.ok(sent_ok, "send_to " .. what .. " succeeds", sent_err)
    if sent_ok then
        ok, n = pcall(peer.receive_from, peer, buffer)
        tap.ok(ok and n == 2 and tostring(buffer:slice(1, n)) == "to",
            "the peer bound to " .. what .. " receives what was sent to it", n)
    end
    local connected, connect_err = pcall(client.connect, client, name)
    tap.ok(connected, "connect to " .. what, connect_err)
    if connected then
        tap.ok(same_path(client.remote_path, name), "remote_path of a socket connected to " ..
            what .. " is exact", client.remote_path and #tostring(client.remote_path))
        client:send("connected")
        n = peer:receive(buffer)
        tap.is(tostring(buffer:slice(1, n)), "connected",
            "sends reach the socket connected to " .. what)
    end
    sent_ok, sent_err = pcall(client.send_to, client, "p", filesystem.path.new(name))
    tap.ok(sent_ok, "send_to a filesystem.path of " .. what .. " succeeds", sent_err)
    if sent_ok then
        tap.is(peer:receive(buffer), 1, "the datagram sent to the filesystem.path arrives too")
    end

    client:close()
    peer:close()
    sock:close()
    if name:byte(1) ~= 0 then
        os.remove(name)
    end
end

-- A peer that is not this library: python3 binds the names with bind(2)
-- itself (as socat's unix-tightsocklen=0 does) and sends one datagram.
local python = "env -u LD_PRELOAD " .. (os.getenv("PYTHON3") or "python3")
if os.execute(python .. " -c 'import socket' 2>/dev/null") then
    for _, entry in ipairs({
        {"a 108-byte abstract name", abstract_name("py")},
        {"a 108-byte path", long_path("q")},
    }) do
        local what, name = entry[1], entry[2]
        local sock = receiver()
        local script = tap.socket_path("peer.py")
        local file = assert(io.open(script, "w"))
        file:write([[
import ctypes, os, socket, struct, sys
name = bytes.fromhex(sys.argv[1])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
# bind(2) itself: socket.bind refuses a 108-byte path (it wants room for a NUL).
address = struct.pack("=H", socket.AF_UNIX) + name
libc = ctypes.CDLL(None, use_errno=True)
if libc.bind(s.fileno(), address, len(address)) != 0:
    sys.exit("bind: " + os.strerror(ctypes.get_errno()))
s.sendto(b"from python", sys.argv[2].encode())
]])
        file:close()
        local hex = name:gsub(".", function(c) return string.format("%02x", c:byte()) end)
        local sent = os.execute(string.format("%s '%s' %s '%s'", python, script, hex,
            tostring(sock.local_path)))
        tap.ok(sent, "python3 sends from " .. what)
        -- Only after a send that went: a receive with nothing sent waits
        -- forever (it did, until meson's timeout, when python's bind failed).
        if sent then
            local ok, n, sender = pcall(sock.receive_from, sock, byte_span.new(64))
            tap.ok(ok and n == 11 and same_path(sender, name),
                "receive_from a python3 peer bound to " .. what .. " gives its exact name",
                ok and sender and #tostring(sender) or n)
        end
        sock:close()
        if name:byte(1) ~= 0 then
            os.remove(name)
        end
    end

    -- The one name no endpoint holds: 108 bytes, abstract, ending in NUL.
    -- The receive raises ENAMETOOLONG, and the descriptors that came with
    -- the datagram are closed, not left open in the binding's storage.
    local script = tap.socket_path("nul_peer.py")
    local file = assert(io.open(script, "w"))
    file:write([[
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(b"\0" + b"n" * 106 + b"\0")
fd = os.open("/dev/null", os.O_RDONLY)
s.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd, fd]))], 0,
          sys.argv[1])
]])
    file:close()
    local sock = receiver()
    local send = string.format("%s '%s' '%s'", python, script, tostring(sock.local_path))
    local before = tap.fd_count()
    if os.execute(send) then
        tap.raises({name = "ENAMETOOLONG"}, "receive_from_with_fds from a sender whose name no " ..
            "endpoint holds raises ENAMETOOLONG", sock.receive_from_with_fds, sock,
            byte_span.new(8), 4)
        tap.is(tap.fd_count(), before, "and closes the descriptors that came with it")
    end
    local waiting = spawn(function()
        return pcall(sock.receive_from_with_fds, sock, byte_span.new(8), 4)
    end)
    ud.sleep(0.01)
    if os.execute(send) then
        local ok, err = waiting:join()
        tap.ok(not ok and err.name == "ENAMETOOLONG", "a waiting receive_from_with_fds too",
            tostring(err))
        tap.is(tap.fd_count(), before, "which closes the descriptors as well")
    end
    sock:close()
else
    tap.diag("python3 not available: the foreign-peer cases are skipped")
end

-- One byte more is too long, for every form.
local sock = datagram_socket.new()
sock:open()
tap.raises({name = "ENAMETOOLONG"}, "bind to 109 bytes raises ENAMETOOLONG", sock.bind, sock,
    long_path("x") .. "x")
tap.raises({name = "ENAMETOOLONG"}, "an abstract name of 109 bytes too", sock.bind, sock,
    abstract_name("x") .. "x")
sock:close()

ud.run()
os.exit(tap.done() and 0 or 1)
