-- require "unixdgram", and blocking calls made outside fibers, which drive the
-- event loop themselves; the fast path, which neither yields nor allocates.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, spawn, sleep = ud.unix, ud.byte_span, ud.spawn, ud.sleep

tap.ok(require "unixdgram" == ud, "require returns the same table every time")
for _, name in ipairs {"unix", "byte_span", "filesystem", "file_descriptor"} do
    tap.is(type(ud[name]), "table", "the module has " .. name)
end
for _, name in ipairs {"spawn", "sleep", "run"} do
    tap.is(type(ud[name]), "function", "the module has " .. name .. "()")
end
tap.is(type(ud.unix.datagram_socket.new), "function", "unix.datagram_socket.new is a function")
tap.is(type(ud.unix.datagram_socket.pair), "function", "unix.datagram_socket.pair is a function")
tap.is(type(ud.filesystem.path.new), "function", "filesystem.path.new is a function")
local hosted = rawget(_G, "spawn") ~= nil
if hosted then
    tap.ok(rawget(_G, "unix") == ud.unix and rawget(_G, "spawn") == ud.spawn
        and rawget(_G, "byte_span") == ud.byte_span and rawget(_G, "sleep") == ud.sleep
        and rawget(_G, "filesystem") == ud.filesystem
        and rawget(_G, "file_descriptor") == ud.file_descriptor,
        "under the host, the globals are the module's")
else
    tap.ok(rawget(_G, "unix") == nil, "under lua5.4, require sets no globals")
end

-- Blocking calls in a coroutine of the user's drive the loop.
local a, b = unix.datagram_socket.pair()
local co = coroutine.wrap(function()
    spawn(function() sleep(0.01); a:send("to the coroutine") end)
    local buf = byte_span.new(32)
    local n = b:receive(buf)
    return tostring(buf:slice(1, n))
end)
tap.is(co(), "to the coroutine", "a receive in a user coroutine waits, running fibers meanwhile")
co = coroutine.wrap(function()
    local fiber = spawn(function() sleep(0.01); return "joined" end)
    return fiber:join()
end)
tap.is(co(), "joined", "join in a user coroutine")
co = coroutine.wrap(function()
    local done = false
    spawn(function() sleep(0.01); done = true end)
    ud.run()
    return done
end)
tap.ok(co(), "run() in a user coroutine waits for the fibers")

-- Outside any fiber, a join that can never finish is a deadlock.
if not hosted then
    -- `waiter` waits in run() for every other fiber, `joiner` for `waiter`.
    local waiter = spawn(function() ud.run() end)
    local joiner = spawn(function() sleep(0); waiter:join() end)
    tap.raises({name = "deadlock", category = "unixdgram.lua"},
        "joining a fiber that can never finish raises deadlock", joiner.join, joiner)
    joiner:interrupt()
    tap.is(select("#", joiner:join()), 0, "an interrupted join ends: joining it returns nothing")
    tap.lives("the waiting run() then ends", waiter.join, waiter)
end

-- The fast path: a call whose syscall succeeds at once does not yield.
local ran = false
local fast = spawn(function()
    spawn(function() ran = true end)
    local buf = byte_span.new(8)
    a:send("now")
    b:receive(buf)
    a:send_to("now", "") -- fails at once: the error path does not yield either
    return ran
end)
local ok, ran_meanwhile = pcall(fast.join, fast)
tap.ok(not ok or ran_meanwhile == false, "a send and a receive that succeed at once do not yield")

-- ... and allocates nothing from Lua's heap.
local measured = spawn(function()
    local buf = byte_span.new(64)
    local message = "steady state"
    for _ = 1, 100 do
        a:send(message)
        b:receive(buf)
    end
    collectgarbage("collect")
    collectgarbage("stop")
    local before = collectgarbage("count")
    for _ = 1, 1000 do
        a:send(message)
        b:receive(buf)
    end
    local grown = collectgarbage("count") - before
    collectgarbage("restart")
    return grown
end)
tap.is(measured:join(), 0.0, "1000 sends and receives allocate no Lua memory")

ud.run()
tap.done()
