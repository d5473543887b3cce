-- A fiber's thread in the script's hands: coroutine.running() inside the
-- fiber gives it, and coroutine.close, coroutine.resume and coroutine.status
-- work on it from outside. None of that may reach the fiber's results or
-- error, which join and run() return: they live where only the binding
-- reaches them. Each misuse gives a clear error or a harmless result.
local tap = require "tap"
local ud = require "unixdgram"
local spawn, sleep = ud.spawn, ud.sleep
local datagram_socket = ud.unix.datagram_socket

-- Results survive coroutine.close of the finished fiber's thread.
local thread
local fiber = spawn(function()
    thread = coroutine.running()
    return "first", 2, {three = 3}
end)
sleep(0)
tap.is(coroutine.status(thread), "dead", "a finished fiber's thread is dead to coroutine.status")
tap.lives("coroutine.close of it is harmless", coroutine.close, thread)
local results = table.pack(fiber:join())
tap.ok(results.n == 3 and results[1] == "first" and results[2] == 2 and results[3].three == 3,
    "join returns every result after the thread was closed", results.n)
tap.raises({name = "EINVAL", arg = 1},
    "a fiber whose thread was closed cannot be joined a second time", fiber.join, fiber)

-- Resuming the finished thread by hand cannot call its results.
local called = false
local returner = spawn(function()
    thread = coroutine.running()
    return function() called = true end, "argument"
end)
sleep(0)
local resumed, message = coroutine.resume(thread)
tap.ok(not resumed and tostring(message):find("dead"),
    "coroutine.resume of a finished fiber's thread says it is dead", message)
tap.ok(not called, "the refused coroutine.resume calls none of the fiber's results")
tap.is(select(2, returner:join()), "argument", "join still returns the finished fiber's results")

-- A failed fiber's error (and the traceback run() reports) survive too.
local thrown = {}
local failing = spawn(function()
    thread = coroutine.running()
    error(thrown)
end)
sleep(0)
tap.lives("coroutine.close of a failed fiber's thread is harmless", coroutine.close, thread)
local ok, err = pcall(failing.join, failing)
tap.ok(not ok and err == thrown, "join raises the fiber's own error after that", err)

local lost = {}
spawn(function()
    thread = coroutine.running()
    error(lost)
end)
sleep(0)
coroutine.close(thread)
ok, err = pcall(ud.run)
tap.ok(not ok and err == lost, "run() raises an unjoined error whose thread was closed", err)

-- Closing a fiber's thread while it waits in a blocking call: the call's
-- operation completes harmlessly; the fiber ends with no results.
local a, b = datagram_socket.pair()
local waiting = spawn(function()
    thread = coroutine.running()
    b:receive(ud.byte_span.new(8))
    return "not reached"
end)
sleep(0)
tap.is(coroutine.status(thread), "suspended", "a waiting fiber's thread is suspended")
tap.lives("coroutine.close of a fiber waiting in receive", coroutine.close, thread)
a:send("late")
sleep(0.01)
tap.is(select("#", waiting:join()), 0,
    "the fiber then ends with no results once the receive completes")

-- Closing a fiber's thread while it sleeps, and while it joins.
local sleeper = spawn(function()
    thread = coroutine.running()
    sleep(0.01)
    return "not reached"
end)
sleep(0)
coroutine.close(thread)
tap.is(select("#", sleeper:join()), 0, "a fiber closed while it sleeps ends with no results")

local slow = spawn(function() sleep(0.01); return "slow" end)
local joiner = spawn(function()
    thread = coroutine.running()
    return slow:join()
end)
sleep(0)
coroutine.close(thread)
tap.is(select("#", joiner:join()), 0, "a fiber closed while it joins ends with no results")
tap.is(slow:join(), "slow", "the fiber it joined is not disturbed")

-- Resuming a fiber's thread by hand while it waits: a clear error for the
-- resumer's call, and the fiber goes on or ends, harmlessly.
local c, d = datagram_socket.pair()
local resumed_fiber = spawn(function()
    thread = coroutine.running()
    local ok_, err_ = pcall(d.receive, d, ud.byte_span.new(8))
    return ok_, err_
end)
sleep(0)
local resumed_ok, resumed_err = coroutine.resume(thread)
tap.ok(resumed_ok, "coroutine.resume of a waiting fiber returns", resumed_err)
c:send("x")
sleep(0.01)
local fiber_ok, fiber_err = resumed_fiber:join()
tap.ok(fiber_ok == nil or (fiber_ok == false and tostring(fiber_err.message or fiber_err):find("resumed")),
    "the resumed fiber's blocking call raised that it was resumed by hand", tostring(fiber_err))

-- A fiber's thread resumed by hand while in a bare coroutine.yield().
local yielding = spawn(function()
    thread = coroutine.running()
    coroutine.yield()
    return "after yield"
end)
sleep(0)
local yield_ok = coroutine.resume(thread)
tap.ok(yield_ok, "coroutine.resume of a fiber in a bare yield runs it on")
sleep(0.01)
tap.lives("joining that fiber afterwards is harmless", yielding.join, yielding)

-- coroutine.wrap takes functions only.
local fiber_thread
local holder = spawn(function() fiber_thread = coroutine.running() end)
holder:join()
tap.raises("function expected", "coroutine.wrap of a fiber's thread is Lua's own argument error",
    coroutine.wrap, fiber_thread)

-- A coroutine made inside a fiber, wrapped, blocking: it drives the loop.
local e, f = datagram_socket.pair()
local wrapper = spawn(function()
    local receive = coroutine.wrap(function()
        local buffer = ud.byte_span.new(8)
        local n = f:receive(buffer)
        return tostring(buffer:slice(1, n))
    end)
    return receive()
end)
spawn(function() sleep(0.005); e:send("wrapped") end)
tap.is(wrapper:join(), "wrapped", "a wrapped coroutine inside a fiber may block")

ud.run()
os.exit(tap.done() and 0 or 1)
