-- Garbage collection never frees what a pending operation will touch: fibers
-- dropped while they wait, with their sockets and buffers, stay alive until
-- their operations complete; afterwards everything is collected and every
-- descriptor closed.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, spawn, sleep = ud.unix, ud.byte_span, ud.spawn, ud.sleep

-- Work is done in functions whose frames end, so that no stale register
-- keeps a socket alive when descriptors are counted.
local before = tap.fd_baseline(ud)

-- Hundreds of fibers dropped while they wait in receive, with their sockets
-- and buffers; and fibers dropped while they wait in sleep and join.
local weak = setmetatable({}, {__mode = "v"})
local function dropped_while_waiting()
    local count = 300
    local senders = {}
    local finished = 0
    local received_bytes = 0
    for i = 1, count do
        local sender, receiver = unix.datagram_socket.pair()
        senders[i] = sender
        local fiber = spawn(function()
            -- The socket and buffer are referenced only from this fiber's stack.
            local n, flags = receiver:receive(byte_span.new(64))
            received_bytes = received_bytes + n
            finished = finished + 1
            return flags
        end)
        weak[#weak + 1] = fiber
        weak[#weak + 1] = receiver
    end
    local sleepers = 0
    for _ = 1, 100 do
        local sleeper = spawn(function() sleep(0.02); sleepers = sleepers + 1 end)
        spawn(function() sleeper:join(); sleepers = sleepers + 1 end)
    end
    sleep(0.005) -- every fiber is now waiting
    for _ = 1, 3 do
        collectgarbage("collect")
    end
    local alive = 0
    for _, object in pairs(weak) do
        if object then
            alive = alive + 1
        end
    end
    tap.is(alive, 2 * count, "waiting fibers and their sockets survive a full collection")
    tap.is(finished, 0, "none has finished yet")
    for i = 1, count do
        senders[i]:send("datagram " .. i)
    end
    ud.run()
    tap.is(finished, count, "every dropped fiber completes its receive")
    tap.is(received_bytes, count * #"datagram " + 9 * 1 + 90 * 2 + 201 * 3,
        "every dropped fiber receives its datagram")
    tap.is(sleepers, 200, "dropped sleeping and joining fibers complete")
end
dropped_while_waiting()
for _ = 1, 3 do
    collectgarbage("collect")
end
tap.is(next(weak), nil, "once done, the fibers and their sockets are collected")
tap.is(tap.fd_count(), before, "every descriptor is closed")

-- Sockets dropped without being closed are closed by the collector.
local function drop_sockets()
    for _ = 1, 200 do
        unix.datagram_socket.pair()
    end
end
drop_sockets()
collectgarbage()
collectgarbage()
tap.is(tap.fd_count(), before, "dropped sockets are closed by __gc")

-- Fibers whose receive is cancelled after being dropped.
local function close_under_dropped_fibers()
    local victims = {}
    for i = 1, 100 do
        local _, receiver = unix.datagram_socket.pair()
        victims[i] = receiver
        spawn(function() pcall(receiver.receive, receiver, byte_span.new(8)) end)
    end
    sleep(0.005)
    collectgarbage()
    for i = 1, 100 do
        victims[i]:close()
    end
    ud.run()
end
close_under_dropped_fibers()
collectgarbage()
collectgarbage()
tap.is(tap.fd_count(), before, "closing dropped fibers' sockets ends them cleanly")

-- __gc called by hand (debug.getmetatable reaches it) on a fiber that waits:
-- it does nothing, as the fiber's wait belongs to a pending operation.
local function gc_by_hand_while_waiting()
    local gc = debug.getmetatable(spawn(function() end)).__gc
    local sleeper = spawn(function() sleep(0.01); return "slept" end)
    local sender, receiver = unix.datagram_socket.pair()
    local reader = spawn(function()
        local buffer = byte_span.new(32)
        local n = receiver:receive(buffer)
        return tostring(buffer:slice(1, n))
    end)
    sleep(0) -- both wait now
    gc(sleeper)
    gc(reader)
    collectgarbage()
    sender:send("after __gc")
    tap.is(sleeper:join(), "slept", "__gc by hand on a sleeping fiber does nothing")
    tap.is(reader:join(), "after __gc", "nor on a fiber waiting in receive")
    local finished = spawn(function() return "finished" end)
    sleep(0)
    gc(finished)
    tap.is(finished:join(), "finished", "on a finished fiber it leaves the results")
end
gc_by_hand_while_waiting()

-- A fiber resurrected by another object's finalizer, after its own __gc ran.
local resurrected, resurrected_failure
local function resurrect()
    local fiber = spawn(function() return "still here" end)
    -- An interrupted fiber nobody joined is not anchored: it can be collected.
    local interrupted = spawn(function() sleep(1000) end)
    sleep(0)
    interrupted:interrupt()
    sleep(0.01)
    setmetatable({}, {__gc = function() resurrected = fiber end})
    setmetatable({}, {__gc = function() resurrected_failure = interrupted end})
end
resurrect()
collectgarbage()
collectgarbage()
tap.like(tostring(resurrected), "^fiber %(finished%)", "a resurrected fiber prints as finished")
tap.is(resurrected:join(), "still here", "a resurrected fiber joins with its results")
tap.lives("interrupting a resurrected finished fiber does nothing", resurrected.interrupt,
    resurrected)
tap.like(tostring(resurrected_failure), "^fiber %(failed%)",
    "a resurrected interrupted fiber prints as failed too")
tap.is(select("#", resurrected_failure:join()), 0,
    "a resurrected interrupted fiber's join returns nothing")
tap.is(resurrected_failure.interruption_caught, true, "having caught the interruption")
resurrected, resurrected_failure = nil, nil

-- A fiber's thread emptied by coroutine.close while it waits in receive: the
-- buffer the kernel will write to is held by the fiber, not by that stack.
-- (Under AddressSanitizer, recvmsg into a freed buffer is reported.)
local closed_thread_result
local function thread_closed_while_receiving()
    local a, b = unix.datagram_socket.pair()
    local thread
    local fiber = spawn(function()
        thread = coroutine.running()
        return b:receive(byte_span.new(4096))
    end)
    sleep(0)
    sleep(0)
    closed_thread_result = coroutine.close(thread)
    collectgarbage()
    collectgarbage()
    for _ = 1, 100 do
        byte_span.new(4096) -- reuse of freed memory, for the kernel to write over
    end
    a:send(string.rep("k", 4096))
    fiber:join()
    a:close()
    b:close()
end
tap.lives("a fiber's thread closed while it waits in receive: the completion finds its buffer",
    thread_closed_while_receiving)
tap.is(closed_thread_result, true, "coroutine.close closed the waiting fiber's thread")
collectgarbage()
collectgarbage()
tap.is(tap.fd_count(), before, "no descriptor is left open once the dropped fibers are collected")

tap.done()
