-- spawn, join, interrupt, sleep and run.
local tap = require "tap"
local ud = require "unixdgram"
local spawn, sleep = ud.spawn, ud.sleep

-- spawn and join
local fiber = spawn(function(x, y) return x + y, "done" end, 1, 2)
tap.is(getmetatable(fiber), "fiber", "spawn returns a fiber, whose metatable is hidden")
tap.is(debug.getmetatable(fiber).__name, "fiber", "the fiber's metatable is named fiber")
tap.like(tostring(fiber), "^fiber %(starting%)", "the new fiber has not started yet")
local sum, word = fiber:join()
tap.is(sum, 3, "join returns the fiber's results")
tap.is(word, "done", "join returns all of the fiber's results")
tap.like(tostring(fiber), "^fiber %(finished%)", "tostring says finished")
tap.is(fiber.joinable, false, "a joined fiber is no longer joinable")
tap.raises({name = "EINVAL", arg = 1}, "joining it again raises EINVAL, as in Emilua",
    fiber.join, fiber)
tap.is(select("#", spawn(function() end):join()), 0, "a fiber that returns nothing")
tap.raises({name = "EINVAL", arg = 1, message = "function expected, got number"},
    "spawn(number) raises", spawn, 1)
tap.raises({name = "EINVAL", arg = 1}, "spawn() raises", spawn)

-- errors travel through join
local thrown = {}
local failing = spawn(function() error(thrown) end)
local ok, err = pcall(failing.join, failing)
tap.ok(not ok and err == thrown, "join raises the fiber's error, the same value")
tap.raises({name = "EINVAL", arg = 1}, "a failed fiber joined once cannot be joined again",
    failing.join, failing)
local string_failure = spawn(function() error("plain message") end)
ok, err = pcall(string_failure.join, string_failure)
tap.like(err, "plain message", "a string error too")

-- a fiber cannot join itself: EDEADLK, as in Emilua (the main fiber joins
-- it only once it has tried)
local selfish, self_ok, self_err
selfish = spawn(function()
    self_ok, self_err = pcall(selfish.join, selfish)
end)
sleep(0.01)
selfish:join()
tap.ok(not self_ok and self_err.name == "EDEADLK",
    "a fiber joining itself raises EDEADLK", self_err and self_err.name)

-- ordering with sleep
local order = {}
local slow = spawn(function() sleep(0.05); order[#order + 1] = "slow" end)
local fast = spawn(function() sleep(0.005); order[#order + 1] = "fast" end)
slow:join()
fast:join()
tap.is(table.concat(order, " "), "fast slow", "the shorter sleep ends first")
tap.lives("sleep(0) yields and returns", sleep, 0)
tap.raises({name = "EINVAL", arg = 1}, "sleep(-1) raises", sleep, -1)
tap.raises({name = "EINVAL", arg = 1}, "sleep(nan) raises", sleep, 0 / 0)
tap.raises({name = "EINVAL", arg = 1}, "sleep(huge) raises", sleep, math.huge)
tap.raises({name = "EINVAL", arg = 1, message = "number expected, got string"},
    "sleep('1') raises", sleep, "1")

-- interrupt
local sleeper = spawn(function()
    local slept, why = pcall(sleep, 1000)
    return slept, why
end)
sleep(0.01)
sleeper:interrupt()
local slept, why = sleeper:join()
tap.ok(not slept, "interrupt() ends a sleep")
tap.is(why and why.name, "interrupted", "the interrupted sleep raises an error named interrupted")
tap.is(why and tostring(why.category), "unixdgram.lua",
    "the interrupted error is in the binding's category")
tap.is(tostring(why), "fiber interrupted", "whose tostring is its message")

local early = spawn(function()
    local fine = pcall(function() return 1 end)
    local interrupted, e = pcall(sleep, 0)
    return fine, interrupted, e and e.name
end)
early:interrupt()
local fine, interrupted, name = early:join()
tap.ok(fine and not interrupted and name == "interrupted",
    "interrupting a fiber that has not started: its first blocking call raises")

local joined_forever = spawn(function() sleep(1000) end)
local joiner = spawn(function()
    local joined, e = pcall(joined_forever.join, joined_forever)
    return joined, e and e.name
end)
sleep(0.01)
joiner:interrupt()
local joined, join_error = joiner:join()
tap.ok(not joined and join_error == "interrupted", "interrupt() ends a join")
tap.like(tostring(joined_forever), "suspended", "the joined fiber goes on")
joined_forever:interrupt()
tap.is(select("#", joined_forever:join()), 0,
    "a fiber joining forever can be interrupted in turn: join returns nothing, as in Emilua")
tap.is(joined_forever.interruption_caught, true,
    "the joined fiber says the interruption was caught")
tap.lives("interrupting a finished fiber does nothing", fiber.interrupt, fiber)

local twice_target = spawn(function() sleep(0.02) return "x" end)
local first_joiner = spawn(function() return twice_target:join() end)
sleep(0)
local second = spawn(function() return pcall(twice_target.join, twice_target) end)
local second_ok, second_err = second:join()
tap.ok(not second_ok and second_err.name == "EINVAL", "two joins at once: the second raises")
tap.is(first_joiner:join(), "x", "the first of two joins gets the results")

-- coroutine.yield inside a fiber lets the others run
local trace = {}
local yielder = spawn(function()
    for i = 1, 3 do
        trace[#trace + 1] = "a" .. i
        coroutine.yield()
    end
end)
local other = spawn(function()
    for i = 1, 3 do
        trace[#trace + 1] = "b" .. i
        coroutine.yield()
    end
end)
yielder:join()
other:join()
tap.is(table.concat(trace, " "), "a1 b1 a2 b2 a3 b3",
    "a bare coroutine.yield reschedules the fiber")

-- a coroutine of the user's inside a fiber still blocks (by driving the loop)
local inside = spawn(function()
    local co = coroutine.wrap(function()
        sleep(0.01)
        return "woke"
    end)
    return co()
end)
tap.is(inside:join(), "woke", "a blocking call in a user coroutine inside a fiber")

-- a fiber's thread resumed behind the scheduler's back raises, and no harm done
local captured
local meddled = spawn(function()
    captured = coroutine.running()
    sleep(0.03)
end)
sleep(0.01)
local resumed, resume_error = coroutine.resume(captured)
tap.ok(not resumed, "coroutine.resume of a waiting fiber fails")
tap.like(tostring(resume_error), "resumed by coroutine.resume", "the failed resume says why")
sleep(0.04)
tap.like(tostring(meddled), "finished", "the fiber is over when its wait completes")

-- many fibers
local finished = 0
local crowd = {}
for i = 1, 200 do
    crowd[i] = spawn(function()
        sleep(0.001 * (i % 5))
        finished = finished + 1
        return i
    end)
end
local total = 0
for i = 1, 200 do
    total = total + crowd[i]:join()
end
tap.is(finished, 200, "200 fibers all finish")
tap.is(total, 200 * 201 // 2, "the 200 fibers return their results")

-- The debug library can replace a fiber's user values (its thread, its
-- outcome, its local_ table): the binding keeps what it relies on in the
-- registry, and checks what it reads.
do
    local a, b = ud.unix.datagram_socket.pair()
    local tampered = spawn(function()
        local into = ud.byte_span.new(8)
        local n = b:receive(into)
        return n, tostring(into:slice(1, n))
    end)
    sleep(0.01) -- waiting in receive, its buffer and socket held by the binding
    for index = 1, 3 do
        debug.setuservalue(tampered, {}, index)
    end
    collectgarbage()
    collectgarbage()
    a:send("intact")
    local n, text = tampered:join()
    tap.is(text, "intact", "a fiber whose user values were replaced while it waited resumes " ..
        "and receives into its buffer")
    tap.is(n, 6, "and returns its results")
    local emptied = spawn(function(x, y) return x + y end, 1, 2)
    coroutine.close(debug.getuservalue(emptied, 1))
    sleep(0)
    tap.is(select("#", emptied:join()), 0,
        "a fiber whose thread was emptied before it started finishes with no results")
    local finished_fiber = spawn(function() return "kept" end)
    sleep(0)
    debug.setuservalue(finished_fiber, 42, 2)
    tap.is(select("#", finished_fiber:join()), 1,
        "a finished fiber whose outcome was replaced still joins, with its result count")
end

-- run: every other fiber finishes; an unjoined failure is raised
local ran = false
spawn(function() sleep(0.01); ran = true end)
ud.run()
tap.ok(ran, "run() waits for the other fibers")
local lost = {}
spawn(function() error(lost) end)
ok, err = pcall(ud.run)
tap.ok(not ok and err == lost, "run() raises an error nobody joined")
tap.lives("run() raises an error nobody joined only once", ud.run)

ud.run()
tap.done()
