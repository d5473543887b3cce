-- Pending calls end with ECANCELED when another fiber cancels, closes or
-- releases the socket, and with `interrupted` when their fiber is interrupted;
-- the socket stays usable after an interruption.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, spawn, sleep = ud.unix, ud.byte_span, ud.spawn, ud.sleep

local function waiting_receive(sock)
    return spawn(function()
        local ok, err = pcall(sock.receive, sock, byte_span.new(8))
        return ok, err
    end)
end

local function expect_canceled(fiber, what)
    local ok, err = fiber:join()
    tap.ok(not ok, what .. ": the pending receive raises")
    tap.is(type(err) == "table" and err.name, "ECANCELED", what .. ": the error is ECANCELED")
    tap.is(type(err) == "table" and err.code, 125, what .. ": code is the errno value")
    tap.is(type(err) == "table" and tostring(err.category), "system",
        what .. ": the error's category is system")
end

-- cancel()
local a, b = unix.datagram_socket.pair()
local receiver = waiting_receive(b)
sleep(0.01)
b:cancel()
expect_canceled(receiver, "cancel()")
a:send("after cancel")
local buf = byte_span.new(32)
local n = b:receive(buf)
tap.is(tostring(buf:slice(1, n)), "after cancel", "the socket works after cancel()")

-- close()
receiver = waiting_receive(b)
sleep(0.01)
b:close()
expect_canceled(receiver, "close()")
tap.is(b.is_open, false, "close() from another fiber closes")

-- release()
local c, d = unix.datagram_socket.pair()
receiver = waiting_receive(d)
sleep(0.01)
local fd = d:release()
expect_canceled(receiver, "release()")
local again = unix.datagram_socket.new(fd)
c:send("released")
n = again:receive(buf)
tap.is(tostring(buf:slice(1, n)), "released", "the released descriptor still works")

-- __close while a fiber waits: the C++ socket goes, the call ends
local e, f = unix.datagram_socket.pair()
receiver = waiting_receive(f)
sleep(0.01)
debug.getmetatable(f).__close(f)
expect_canceled(receiver, "__close")

-- several waiting on one socket
local g, h = unix.datagram_socket.pair()
local waiters = {}
for i = 1, 5 do
    waiters[i] = waiting_receive(h)
end
sleep(0.01)
h:cancel()
local all_canceled = true
for i = 1, 5 do
    local ok, err = waiters[i]:join()
    all_canceled = all_canceled and not ok and err.name == "ECANCELED"
end
tap.ok(all_canceled, "cancel() ends every pending call on the socket")

-- interrupt() ends a receive and leaves the socket usable
receiver = waiting_receive(h)
sleep(0.01)
receiver:interrupt()
local ok, err = receiver:join()
tap.ok(not ok and err.name == "interrupted", "interrupt() ends a pending receive with interrupted")
g:send("still usable")
n = h:receive(buf)
tap.is(tostring(buf:slice(1, n)), "still usable", "the socket still works after the interruption")
tap.is(h.is_open, true, "the socket is still open after the interruption")

-- interrupt() ends a send waiting for room at a full peer
local server = unix.datagram_socket.new()
server:open()
local server_path = tap.socket_path("full")
server:bind(server_path)
server:set_option("receive_buffer_size", 4096)
local client = unix.datagram_socket.new()
client:open()
local sent = 0
local sender = spawn(function()
    local payload = string.rep("x", 512)
    local ok, err = pcall(function()
        for _ = 1, 100000 do
            client:send_to(payload, server_path)
            sent = sent + 1
        end
    end)
    return ok, err
end)
sleep(0.05)
local sent_before = sent
sleep(0.05)
tap.ok(sent < 100000 and sent == sent_before, "a send to a full peer waits, without sending more")
sender:interrupt()
local send_ok, send_err = sender:join()
tap.ok(not send_ok and send_err.name == "interrupted", "interrupt() ends the waiting send_to")
local drained = 0
while server:io_control("bytes_readable") > 0 do
    server:receive(buf)
    drained = drained + 1
end
tap.is(drained, sent, "every datagram sent before was delivered")
tap.is(client:send_to("after", server_path), 5, "the client can send again")
n = server:receive(buf)
tap.is(tostring(buf:slice(1, n)), "after", "the datagram sent after the cancellation arrives")

-- a waiting send_to resumes when the peer drains
local resumed = spawn(function()
    local payload = string.rep("y", 512)
    local count = 0
    while count < 200 do
        client:send_to(payload, server_path)
        count = count + 1
    end
    return count
end)
local received = 0
local big = byte_span.new(1024)
while received < 200 do
    server:receive(big)
    received = received + 1
end
tap.is(resumed:join(), 200, "a send_to blocked on a full peer resumes as it drains")

-- interrupting a fiber whose own coroutine is driving the loop. The
-- interrupting side is a fiber too: a call that drives the loop outside any
-- fiber (the main thread of stock lua5.4) returns only after every call
-- driving it from further up the C stack has returned.
local driven_ok, driven_err = spawn(function()
    local driver = spawn(function()
        local co = coroutine.wrap(function()
            return pcall(g.receive, g, buf)
        end)
        return co()
    end)
    sleep(0.01)
    driver:interrupt()
    return driver:join()
end):join()
tap.ok(not driven_ok and driven_err.name == "interrupted",
    "interrupt() reaches a call in a coroutine inside the fiber")

-- One readiness event ends a send's wait and a receive's: the send's fiber
-- runs first and closes the socket, then opens it again under a name that
-- gets a datagram. The receive began on the old socket: it ends with
-- ECANCELED, and leaves the new socket's datagram where it is.
do
    local s, peer = unix.datagram_socket.pair()
    local name = "\0unixdgram-reopen-" .. tap.pid()
    local filler = spawn(function()
        while true do
            s:send(string.rep("f", 512))
        end
    end)
    sleep(0.02)
    filler:interrupt()
    pcall(filler.join, filler)
    local sender = spawn(function()
        s:send("s") -- waits for room
        s:close()
        s:open()
        s:bind(name)
        local c = unix.datagram_socket.new()
        c:open()
        c:send_to("new", name)
        c:close()
    end)
    local receiver = waiting_receive(s)
    sleep(0.02) -- both wait now
    local drain = byte_span.new(600)
    while peer:io_control("bytes_readable") > 0 do
        peer:receive(drain)
    end
    peer:send("old") -- readable and writable at once
    sender:join()
    expect_canceled(receiver, "close() and open() while a receive's readiness was queued")
    tap.is(s:io_control("bytes_readable"), 3, "the new socket keeps its datagram")
    s:close()
    peer:close()
end

ud.run()
tap.done()
