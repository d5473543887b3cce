-- Finalizers inside a call: any allocation in a binding function may run a
-- __gc, and the __gc may run any Lua, binding calls included. Each case here
-- arranges for a finalizer to run at the first allocation inside a call
-- (tap.collect_at_every_check, tap.on_next_collection) and to change what the
-- call read before it: the shared batch storage, the descriptors it sends, the
-- socket it uses, the file it duplicates.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, file_descriptor = ud.unix, ud.byte_span, ud.file_descriptor
local datagram_socket = unix.datagram_socket
local spawn, sleep = ud.spawn, ud.sleep

local function spans(count, size)
    local list = {}
    for i = 1, count do
        list[i] = byte_span.new(size)
    end
    return list
end

-- The eager collector really collects at every allocation check: an object
-- only a weak table refers to is gone after any allocation.
do
    -- A heap of some size, so that one step is not a cycle by chance, made
    -- before the collector turns eager: made after, each of its 20,000
    -- allocations ran a cycle over what was made so far, which with 10,000
    -- checks took 10 s of CPU, and past meson's 60 s timeout on a loaded
    -- machine (42 s at a load average of 24). A check costs a cycle over the
    -- ballast, under a millisecond.
    local ballast = {}
    for i = 1, 20000 do
        ballast[i] = {i}
    end
    tap.collect_at_every_check()
    local weak = setmetatable({}, {__mode = "v"})
    local collected, checks = 0, 2000
    for _ = 1, checks do
        weak[1] = {}
        local _ = {} -- an allocation, then its check
        if weak[1] == nil then
            collected = collected + 1
        end
    end
    ballast = nil
    tap.is(collected, checks, "under collect_at_every_check, every allocation check runs a full cycle")
    tap.collect_normally()
end

-- Fills s's peer until a send waits, then ends that send.
local function fill(s)
    local big = string.rep("f", 1024)
    local filler = spawn(function()
        while true do
            s:send(big)
        end
    end)
    sleep(0.01)
    filler:interrupt()
    pcall(filler.join, filler)
end

local function file_with(path, text)
    local file = assert(io.open(path, "w"))
    file:write(text)
    file:close()
    return path
end

-- Each case runs in a fresh fiber, whose first wait allocates the table
-- that holds the call's values; and, where the chunk is not itself a fiber
-- (stock lua5.4), outside any fiber, where the wait is a new userdata. The
-- case's preparation that waits (fill) runs before it, in the caller.
local plain_ok = tap.ok
local function each_context(case, prepare)
    local function run(context, ...)
        tap.ok = function(condition, name, diagnostic)
            return plain_ok(condition, name .. context, diagnostic)
        end
        case(...)
        tap.ok = plain_ok
    end
    local fiber = spawn(run, " (in a fresh fiber)", (prepare or function() end)())
    local ok, err = pcall(fiber.join, fiber)
    tap.ok = plain_ok
    tap.ok(ok, "a case ran to its end in a fresh fiber", err)
    if not coroutine.isyieldable() then
        run(" (outside any fiber)", (prepare or function() end)())
    end
end

-- receive_many waiting: a finalizer run by the wait's allocation makes a
-- larger batch call, which moves the binding's shared batch storage.
each_context(function(...)
    local a, b = datagram_socket.pair()
    local c, d = datagram_socket.pair()
    local big_spans, big_lengths = spans(512, 8), {}
    local buffers, lengths = spans(2, 16), {}
    local ran = false
    local feeder = spawn(function()
        sleep(0.01)
        a:send("first")
        a:send("second")
    end)
    c:send("queued") -- what the finalizer's batch finds at once
    tap.collect_at_every_check()
    tap.on_next_collection(function()
        ran = true
        d:receive_many(big_spans, big_lengths)
    end)
    local ok, count = pcall(b.receive_many, b, buffers, lengths)
    tap.collect_normally()
    tap.ok(ran, "a finalizer ran inside a waiting receive_many and made a larger batch call")
    tap.ok(ok and count >= 1, "the waiting receive_many completes", count)
    tap.is(ok and tostring(buffers[1]:slice(1, lengths[1])), "first",
        "into the spans it was given, not into storage the finalizer moved")
    feeder:join()
end)

-- send_many waiting for room: the same, with a larger send_many.
each_context(function(...)
    local s, r = datagram_socket.pair()
    s:set_option("send_buffer_size", 4096)
    local c, d = datagram_socket.pair()
    local batch = {}
    for i = 1, 32 do
        batch[i] = string.format("%04d", i) .. string.rep("x", 1020)
    end
    local big_batch = {}
    for i = 1, 200 do
        big_batch[i] = "b"
    end
    local ran = false
    local received = {}
    local drainer = spawn(function()
        sleep(0.01)
        local buffer = byte_span.new(2048)
        for i = 1, #batch do
            local n = r:receive(buffer)
            received[i] = tostring(buffer:slice(1, 4))
        end
    end)
    tap.collect_at_every_check()
    tap.on_next_collection(function()
        ran = true
        c:send_many(big_batch)
    end)
    local ok, sent = pcall(s.send_many, s, batch)
    tap.collect_normally()
    drainer:join()
    tap.ok(ran, "a finalizer ran inside a waiting send_many and made a larger batch call")
    tap.ok(ok and sent == #batch, "the waiting send_many sends every datagram", sent)
    local in_order = #received == #batch
    for i = 1, #received do
        in_order = in_order and received[i] == string.format("%04d", i)
    end
    tap.ok(in_order, "the datagrams it was given, in order, not what the finalizer's batch left",
        table.concat(received, " "))
end)

-- send_with_fds waiting for room: a finalizer closes the file_descriptor
-- being sent and opens another file, which gets its number.
local function full_pair()
    local s, r = datagram_socket.pair()
    s:set_option("send_buffer_size", 4096)
    fill(s)
    return s, r
end

each_context(function(s, r)
    local first = file_with(tap.socket_path("first"), "first file")
    local other = file_with(tap.socket_path("other"), "other file")
    local sent_fd = file_descriptor.from_file(io.open(first))
    local drainer = spawn(function()
        sleep(0.01)
        local buffer = byte_span.new(2048)
        local files = {}
        while true do
            local n, fds = r:receive_with_fds(buffer, 4)
            for _, fd in ipairs(fds) do
                files[#files + 1] = fd:to_file("r"):read("a")
            end
            if tostring(buffer:slice(1, n)) == "with fd" or n == 0 then
                return files
            end
        end
    end)
    local reopened
    local fds = {sent_fd} -- made before the finalizer is armed: a table constructor allocates
    tap.collect_at_every_check()
    tap.on_next_collection(function()
        sent_fd:close()
        -- io.open takes the lowest free number, the one just closed.
        reopened = file_descriptor.from_file(io.open(other))
    end)
    local ok, err = pcall(s.send_with_fds, s, "with fd", fds)
    tap.collect_normally()
    if not ok then
        s:send("with fd") -- ends the drainer
    end
    local files = drainer:join()
    tap.ok(reopened and tostring(sent_fd) == "file_descriptor (closed)",
        "a finalizer closed the file_descriptor being sent and opened another file",
        tostring(reopened))
    tap.ok(not ok and err.name == "EBUSY" and err.message:find("closed"),
        "send_with_fds raises that the file_descriptor was closed meanwhile",
        ok and "it sent" or tostring(err))
    local got_other = false
    for _, text in ipairs(files) do
        got_other = got_other or text == "other file"
    end
    tap.ok(not got_other, "the peer never receives the file opened in the finalizer",
        table.concat(files, ", "))
    if reopened then
        reopened:close()
    end
end, full_pair)

-- A finalizer closes the socket (<close> runs its __close, which destroys
-- the C++ socket) while a send on it sets up its wait.
each_context(function(s, r)
    tap.collect_at_every_check()
    tap.on_next_collection(function()
        local closing <close> = s
    end)
    local ok, err = pcall(s.send, s, "after close")
    tap.collect_normally()
    tap.ok(not ok and err.name == "EBADF",
        "a send whose socket a finalizer closes raises EBADF", ok and "sent" or tostring(err))
end, full_pair)

each_context(function(s, r)
    local batch = {"a", "b"}
    tap.collect_at_every_check()
    tap.on_next_collection(function()
        local closing <close> = s
    end)
    local ok, err = pcall(s.send_many, s, batch)
    tap.collect_normally()
    tap.ok(not ok and err.name == "EBADF",
        "a send_many whose socket a finalizer closes raises EBADF", ok and "sent" or tostring(err))
end, full_pair)

each_context(function(...)
    local s, r = datagram_socket.pair()
    local buffers, lengths = spans(2, 8), {}
    tap.collect_at_every_check()
    tap.on_next_collection(function()
        local closing <close> = r
    end)
    local ok, err = pcall(r.receive_many, r, buffers, lengths)
    tap.collect_normally()
    tap.ok(not ok and err.name == "EBADF",
        "a receive_many whose socket a finalizer closes raises EBADF", ok and "received" or tostring(err))
end)

-- release() allocates the file_descriptor it returns: a finalizer closing
-- the socket there.
each_context(function(...)
    local s = datagram_socket.pair()
    tap.collect_at_every_check()
    tap.on_next_collection(function()
        local closing <close> = s
    end)
    local ok, err = pcall(s.release, s)
    tap.collect_normally()
    tap.ok(not ok and err.name == "EBADF",
        "release() of a socket a finalizer closes raises EBADF", ok and "released" or tostring(err))
end)

-- datagram_socket.new(fd) allocates the socket: a finalizer closing fd there.
each_context(function(...)
    local a = datagram_socket.pair()
    local fd = a:release()
    tap.collect_at_every_check()
    tap.on_next_collection(function()
        fd:close()
    end)
    local ok, err = pcall(datagram_socket.new, fd)
    tap.collect_normally()
    tap.ok(not ok and err.name == "EBUSY" and err.message:find("closed"),
        "new(fd) of a descriptor a finalizer closes raises that it is closed",
        ok and "adopted" or tostring(err))
end)

-- file_descriptor.from_file allocates the file_descriptor: a finalizer
-- closing the Lua file there.
each_context(function(...)
    local file = assert(io.open(file_with(tap.socket_path("closing"), "x")))
    tap.collect_at_every_check()
    tap.on_next_collection(function()
        file:close()
    end)
    local ok, err = pcall(file_descriptor.from_file, file)
    tap.collect_normally()
    tap.ok(not ok and err.message:find("closed file"),
        "from_file of a file a finalizer closes raises that it is closed",
        ok and "duplicated" or tostring(err))
end)

-- A finalizer interrupts the very fiber whose receive is setting up its
-- wait: the receive must end with `interrupted`, not wait on regardless.
do
    local a, b = datagram_socket.pair()
    local buffer = byte_span.new(8)
    local target
    target = spawn(function()
        tap.collect_at_every_check()
        tap.on_next_collection(function()
            target:interrupt()
        end)
        local ok, err = pcall(b.receive, b, buffer)
        tap.collect_normally()
        return ok, err
    end)
    local rescue = spawn(function()
        sleep(0.5)
        pcall(a.send, a, "late") -- ends a receive that missed its interruption
    end)
    local ok, err = target:join()
    tap.ok(not ok and type(err) == "table" and err.name == "interrupted",
        "an interrupt() made by a finalizer while a receive sets up its wait ends that receive",
        ok and "it received" or tostring(err))
    rescue:interrupt()
    pcall(rescue.join, rescue)
end

-- pair() makes two sockets, allocating for the second after the first is
-- made: a finalizer that runs then and closes the first (reaching it through
-- the debug library, as the C function's stack slot 1) must leave pair()
-- raising EBADF with nothing left open, not connecting a socket that is gone.
do
    collectgarbage()
    collectgarbage()
    local base = tap.fd_count()
    local acted, watching = false, true
    local function watch()
        setmetatable({}, {__gc = function()
            for level = 2, 8 do
                local info = debug.getinfo(level, "f")
                if not info then
                    break
                end
                if info.func == datagram_socket.pair then
                    local _, first = debug.getlocal(level, 1)
                    local _, second = debug.getlocal(level, 2)
                    if type(second) == "userdata" and not acted then
                        acted = true
                        local closing <close> = first
                    end
                    break
                end
            end
            if watching and not acted then
                watch()
            end
        end})
    end
    tap.collect_at_every_check()
    watch()
    local ok, err = pcall(datagram_socket.pair)
    watching = false
    tap.collect_normally()
    tap.ok(acted, "a finalizer ran while pair() made its second socket and closed the first")
    tap.ok(not ok and type(err) == "table" and err.name == "EBADF",
        "pair() whose first socket a finalizer closed raises EBADF",
        ok and "it made a pair" or tostring(err))
    collectgarbage()
    collectgarbage()
    tap.is(tap.fd_count(), base, "and leaves no descriptor open")
end

-- Lua finalizes an object once: a socket that a finalizer resurrects after
-- the socket's own __gc cannot be opened again, whose descriptor nothing
-- would close. After __close it can (test_socket.lua).
do
    collectgarbage()
    collectgarbage()
    local base = tap.fd_count()
    local outcomes = {}
    for _ = 1, 3 do
        -- Marked for finalization before the socket is: finalized after it.
        local holder = setmetatable({}, {__gc = function(self)
            outcomes[#outcomes + 1] = table.pack(pcall(self.socket.open, self.socket))
        end})
        holder.socket = datagram_socket.new()
    end
    collectgarbage()
    collectgarbage()
    collectgarbage()
    local all_ebadf = #outcomes == 3
    for _, outcome in ipairs(outcomes) do
        all_ebadf = all_ebadf and not outcome[1] and type(outcome[2]) == "table" and
            outcome[2].name == "EBADF"
    end
    tap.ok(all_ebadf, "open() of a socket resurrected after its __gc raises EBADF",
        #outcomes .. " finalizers ran")
    tap.is(tap.fd_count(), base, "and no descriptor is left open")
end

ud.run()
os.exit(tap.done() and 0 or 1)
