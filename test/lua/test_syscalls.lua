-- System calls per Lua call, counted by syscall_counter (an interposer the
-- test runs preloaded, see syscall_counter.cpp): a send or receive that does
-- not block makes exactly one system call; one that blocks makes two: a
-- receive the attempt that found nothing and the one after readiness, a send
-- the attempt that found the queue full and the one after room (the core's
-- send started with unixdgram::after_would_block waits before it attempts).
-- The reactor's own calls (epoll) are not sends or receives and are not
-- counted.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, spawn, file_descriptor = ud.unix, ud.byte_span, ud.spawn, ud.file_descriptor
local this_fiber = ud.this_fiber
local datagram_socket = unix.datagram_socket

local loaded, counter = pcall(require, "syscall_counter")
if not loaded or not counter.interposing then
    print("1..0 # SKIP syscall_counter is not preloaded (LD_PRELOAD), so nothing can be counted")
    os.exit(0)
end

local function fd_of(sock)
    return math.tointeger(tostring(sock):match("fd (%d+)"))
end

-- The sends and receives `fn` makes on `sock`'s descriptor.
local function counted(sock, fn)
    local fd = fd_of(sock)
    counter.reset()
    fn()
    return counter.counts(fd)
end

local function temp_fd()
    local file = io.tmpfile()
    local fd = file_descriptor.from_file(file)
    file:close()
    return fd
end

local a, b = datagram_socket.pair()
local into = byte_span.new(64)

-- Calls that do not block ----------------------------------------------------

tap.is(counted(a, function() a:send("ping") end), 1,
    "a send with room in the queue makes one system call")
tap.is(select(2, counted(b, function() b:receive(into) end)), 1,
    "a receive of a queued datagram makes one system call")

a:send("ping")
tap.is(select(2, counted(b, function() b:receive_from(into) end)), 1,
    "a receive_from of a queued datagram makes one system call")

local passed = temp_fd()
tap.is(counted(a, function() a:send_with_fds("fd", {passed}) end), 1,
    "a send_with_fds with room in the queue makes one system call")
tap.is(select(2, counted(b, function() b:receive_with_fds(into, 4) end)), 1,
    "a receive_with_fds of a queued datagram makes one system call")
passed:close()

tap.is(counted(a, function() a:send_message("message", {fds = {}}) end), 1,
    "a send_message with room in the queue makes one system call")
b:receive(into)

local spans = {byte_span.new(16), byte_span.new(16), byte_span.new(16)}
tap.is(counted(a, function() a:send_many({"one", "two", "three"}) end), 1,
    "a send_many of three datagrams with room for them makes one system call")
tap.is(select(2, counted(b, function() b:receive_many(spans, {}) end)), 1,
    "a receive_many of queued datagrams makes one system call")

-- Calls that block -------------------------------------------------------------

-- Spawns a fiber that sends `payload` to `sock` once the caller blocks.
local function send_later(sock, payload)
    return spawn(function() sock:send(payload) end)
end

local sender = send_later(a, "late")
tap.is(select(2, counted(b, function() b:receive(into) end)), 2,
    "a receive that waits makes two system calls: the attempt that found nothing and one after readiness")
sender:join()

sender = send_later(a, "late")
tap.is(select(2, counted(b, function() b:receive_with_fds(into, 4) end)), 2,
    "a receive_with_fds that waits makes two system calls")
sender:join()

sender = send_later(a, "late")
tap.is(select(2, counted(b, function() b:receive_many(spans, {}) end)), 2,
    "a receive_many that waits makes two system calls")
sender:join()

-- A receive woken for a datagram another receive took waits again: three
-- calls then, never a spin. Two fibers wait on the same socket; one datagram
-- wakes both; the second finds nothing and waits for the next.
do
    local first_calls, second_calls
    local fd = fd_of(b)
    counter.reset()
    local first = spawn(function()
        b:receive(into)
        first_calls = select(2, counter.counts(fd))
    end)
    local second = spawn(function()
        local own = byte_span.new(64)
        b:receive(own)
        second_calls = select(2, counter.counts(fd))
    end)
    this_fiber.yield() -- both are waiting now
    a:send("one")
    this_fiber.yield()
    this_fiber.yield()
    a:send("two")
    first:join()
    second:join()
    tap.ok(first_calls ~= nil and second_calls ~= nil,
        "two receives waiting on one socket both complete")
    tap.ok(second_calls ~= nil and second_calls <= 5,
        "two receives woken for one datagram make at most five system calls between them",
        string.format("%s, then %s in all", tostring(first_calls), tostring(second_calls)))
end

-- A send that waits for room: the fiber sends (with `send`) until its send
-- blocks; the receiver then takes every datagram queued, which lets the
-- blocked send go (the kernel says a socket has room again once most of its
-- send buffer is free, not at the first datagram taken). Returns the calls
-- of each send, the blocked one last.
local function calls_per_send(send)
    local per_call = {}
    local drained = false
    local fd = fd_of(a)
    local filler = spawn(function()
        for _ = 1, 100000 do
            local before = counter.counts(fd)
            send()
            per_call[#per_call + 1] = counter.counts(fd) - before
            if drained then
                return
            end
        end
    end)
    this_fiber.yield() -- the filler runs until its send blocks
    drained = true
    for _ = 1, #per_call do
        b:receive(into)
    end
    filler:join()
    b:receive(into) -- the one the blocked send sent
    return per_call
end

-- Whether every call but the last made one system call.
local function all_but_last_one(per_call)
    local ok = #per_call > 1
    for at = 1, #per_call - 1 do
        ok = ok and per_call[at] == 1
    end
    return ok
end

-- Checks that the `name` calls `send` makes each make one system call until
-- the queue is full, and the one that waits for room two.
local function check_blocked(name, send)
    local per_call = calls_per_send(send)
    local blocked = per_call[#per_call]
    tap.ok(all_but_last_one(per_call),
        string.format("every %s before the queue filled made one system call", name),
        table.concat(per_call, ",", 1, math.min(#per_call, 20)))
    tap.diag(string.format("the %s that waited for room made %s system calls", name, tostring(blocked)))
    tap.is(blocked, 2, string.format(
        "a %s that waits for room makes two system calls: the attempt that found the queue full and one after room",
        name))
end

check_blocked("send", function() a:send("fill") end)
local batch = {"fill"}
check_blocked("send_many", function() a:send_many(batch) end)

a:close()
b:close()
tap.done()
