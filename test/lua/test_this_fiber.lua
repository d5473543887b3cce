-- Fibers as Emilua 0.4 has them: join after interrupt, detach, joinable,
-- interruption_caught, and this_fiber. Expected behaviour from Emilua 0.4's
-- source and its test outputs (test/interrupt*.out, join*.out, detach*.out,
-- forbid_suspend*.out).
local tap = require "tap"
local ud = require "unixdgram"
local spawn, sleep, this_fiber = ud.spawn, ud.sleep, ud.this_fiber
local datagram_socket = ud.unix.datagram_socket

local function error_name(err)
    return type(err) == "table" and err.name or tostring(err)
end

-- fib:interrupt(); fib:join() ---------------------------------------------------

do
    local fib = spawn(function() this_fiber.yield() end)
    fib:interrupt()
    local count = select("#", fib:join())
    tap.ok(count == 0 and fib.interruption_caught == true,
        "interrupting a fiber that has not run yet, then joining it, returns nothing and catches the interruption",
        count)
end

do
    local target = spawn(function() sleep(0.05); return "slept" end)
    spawn(function() target:interrupt() end):detach()
    local count = select("#", target:join())
    tap.ok(count == 0 and target.interruption_caught,
        "interrupt() from another fiber while the main one joins: the join returns nothing", count)
end

do
    local fib = spawn(function() end)
    tap.raises({name = "EINVAL"}, "interruption_caught before any join raises EINVAL",
        function() return fib.interruption_caught end)
    fib:join()
    tap.is(fib.interruption_caught, false, "after joining a fiber that returned it is false")
end

do
    local fib = spawn(function() error("plain failure") end)
    local ok = pcall(fib.join, fib)
    tap.ok(not ok and fib.interruption_caught == false,
        "after joining a fiber that failed otherwise it is false, the error raised")
end

do
    local fake = spawn(function() error({name = "interrupted", code = 1, category = "unixdgram.lua"}) end)
    local ok, err = pcall(fake.join, fake)
    tap.ok(not ok and type(err) == "table" and err.name == "interrupted",
        "a table of the script's that looks like the interrupted error is raised by join, not caught")
end

do
    local fib = spawn(function()
        local ok, err = pcall(sleep, 1000)
        error(err) -- the binding's own error object, raised again
    end)
    sleep(0.01)
    fib:interrupt()
    tap.is(select("#", fib:join()), 0,
        "a fiber that catches interrupted and raises it again counts as interrupted")
end

do
    local second_ok, second_name
    local fib = spawn(function()
        local first_ok = pcall(sleep, 1000)
        second_ok, second_name = pcall(sleep, 0)
        second_name = error_name(second_name)
        return first_ok
    end)
    sleep(0.01)
    fib:interrupt()
    fib:join()
    tap.ok(second_ok == false and second_name == "interrupted",
        "an interruption stays requested: every later blocking call raises interrupted, as in Emilua",
        second_name)
end

do
    local before, after
    local fib
    fib = spawn(function()
        fib:interrupt()
        before = "ran on"
        this_fiber.yield()
        after = "not reached"
    end)
    fib:join()
    tap.ok(before == "ran on" and after == nil and fib.interruption_caught,
        "a fiber interrupting itself runs on until its next blocking call, which raises")
end

do
    local lost = spawn(function() sleep(1000) end)
    sleep(0)
    lost:interrupt()
    local ok, err = pcall(ud.run)
    tap.ok(ok, "run() does not raise for an interrupted fiber nobody joined", error_name(err))
    tap.like(tostring(lost), "failed", "the fiber that was interrupted ended failed")
end

-- joinable and detach -----------------------------------------------------------------

do
    local fib = spawn(function() sleep(0.01); return 1 end)
    local joinable_before = fib.joinable
    local joining = spawn(function() return fib:join() end)
    sleep(0)
    local joinable_during = fib.joinable
    joining:join()
    tap.ok(joinable_before and not joinable_during and not fib.joinable,
        "joinable: true before, false while another fiber joins, false once joined")
end

do
    local fib = spawn(function() end)
    fib:detach()
    tap.is(fib.joinable, false, "a detached fiber is not joinable")
    tap.raises({name = "EINVAL", arg = 1}, "joining a detached fiber raises EINVAL", fib.join, fib)
    tap.raises({name = "EINVAL", arg = 1}, "detaching it again raises EINVAL", fib.detach, fib)
    tap.raises({name = "EINVAL"}, "a detached fiber's interruption_caught raises EINVAL",
        function() return fib.interruption_caught end)
end

do
    local fib = spawn(function() sleep(0.01) end)
    local joining = spawn(function() fib:join() end)
    sleep(0)
    tap.raises({name = "EINVAL", arg = 1}, "detaching a fiber another one is joining raises EINVAL",
        fib.detach, fib)
    joining:join()
end

do
    local finished_normally = false
    local fib = spawn(function() sleep(0.02); finished_normally = true end)
    fib:detach()
    fib:interrupt()
    sleep(0.05)
    tap.ok(finished_normally, "interrupt() through a detached handle does nothing, as in Emilua")
end

do
    local fib = spawn(function() sleep(1000) end)
    sleep(0)
    fib:interrupt()
    fib:detach()
    sleep(0.01)
    tap.lives("a detached fiber that ends interrupted is no failure for run()", ud.run)
end

do
    local fib = spawn(function() error("detached failure") end)
    fib:detach()
    local ok, err = pcall(ud.run)
    tap.ok(not ok and tostring(err):find("detached failure"),
        "a detached fiber that fails otherwise is still reported by run()", tostring(err))
end

-- joining yourself -------------------------------------------------------------------

do
    local name
    local fib
    fib = spawn(function()
        local co = coroutine.wrap(function() return pcall(fib.join, fib) end)
        local _, err = co()
        name = error_name(err)
    end)
    sleep(0.01)
    fib:join()
    tap.is(name, "EDEADLK", "a fiber joining itself from a coroutine of its own raises EDEADLK")
end

-- this_fiber.yield ----------------------------------------------------------------

do
    local trace = {}
    local other = spawn(function() trace[#trace + 1] = "other" end)
    trace[#trace + 1] = "before"
    this_fiber.yield()
    trace[#trace + 1] = "after"
    other:join()
    tap.is(table.concat(trace, " "), "before other after",
        "this_fiber.yield() lets a ready fiber run")
end

do
    local trace = {}
    local a = spawn(function()
        for i = 1, 3 do
            trace[#trace + 1] = "a" .. i
            this_fiber.yield()
        end
    end)
    local b = spawn(function()
        for i = 1, 3 do
            trace[#trace + 1] = "b" .. i
            this_fiber.yield()
        end
    end)
    a:join()
    b:join()
    tap.is(table.concat(trace, " "), "a1 b1 a2 b2 a3 b3", "fibers that yield take turns")
end

do
    local fib = spawn(function()
        local co = coroutine.wrap(function()
            this_fiber.yield()
            return "yielded inside"
        end)
        return co()
    end)
    tap.is(fib:join(), "yielded inside", "this_fiber.yield() in a coroutine of a fiber")
end

-- forbid_suspend / allow_suspend ------------------------------------------------------

local function forbidden(name, fn, ...)
    local args = table.pack(...)
    local fib = spawn(function()
        this_fiber.forbid_suspend()
        local ok, err = pcall(fn, table.unpack(args, 1, args.n))
        this_fiber.allow_suspend()
        return ok, err
    end)
    local ok, err = fib:join()
    tap.ok(not ok and type(err) == "table" and err.name == "forbid_suspend_block"
        and tostring(err.category) == "unixdgram.lua",
        name, error_name(err))
end

forbidden("inside forbid_suspend() this_fiber.yield() raises forbid_suspend_block", this_fiber.yield)
forbidden("so does sleep()", sleep, 0)
do
    local finished = spawn(function() end)
    sleep(0)
    forbidden("so does join(), even of a finished fiber", finished.join, finished)
end
do
    local a, b = datagram_socket.pair()
    local buf = ud.byte_span.new(8)
    forbidden("so does a receive that would wait", b.receive, b, buf)
    a:send("ready")
    local fib = spawn(function()
        this_fiber.forbid_suspend()
        local ok, n = pcall(b.receive, b, buf)
        this_fiber.allow_suspend()
        return ok, n
    end)
    local ok, n = fib:join()
    tap.ok(ok and n == 5, "a receive with a datagram ready does not suspend, so it works", n)
    a:close()
    b:close()
end

do
    local fib = spawn(function()
        this_fiber.forbid_suspend()
        this_fiber.forbid_suspend()
        this_fiber.allow_suspend()
        local still = pcall(sleep, 0)
        this_fiber.allow_suspend()
        local again = pcall(sleep, 0)
        return still, again
    end)
    local still, again = fib:join()
    tap.ok(still == false and again == true,
        "forbid_suspend() counts: each needs its allow_suspend()")
end

do
    local other_ok
    local fib = spawn(function()
        this_fiber.forbid_suspend()
        local other = spawn(function() sleep(0); other_ok = true end)
        this_fiber.allow_suspend()
        other:join()
    end)
    fib:join()
    tap.ok(other_ok, "forbid_suspend() in one fiber leaves the others free to block")
end

tap.raises({name = "suspension_already_allowed"}, "allow_suspend() without forbid_suspend() raises",
    this_fiber.allow_suspend)
tap.raises({name = "interruption_already_allowed"},
    "restore_interruption() without disable_interruption() raises", this_fiber.restore_interruption)
tap.ok(spawn(function()
    return pcall(this_fiber.allow_suspend) == false
end):join(), "allow_suspend() without forbid_suspend() raises in a fiber too")

-- disable_interruption / restore_interruption ----------------------------------------

do
    local trace = {}
    local fib
    fib = spawn(function()
        this_fiber.disable_interruption()
        sleep(0.03)
        trace[#trace + 1] = "slept"
    end)
    sleep(0.01)
    fib:interrupt()
    fib:join()
    tap.ok(trace[1] == "slept" and fib.interruption_caught == false,
        "with interruption disabled, interrupt() does not cut a pending sleep short")
end

do
    local a, b = datagram_socket.pair()
    local buf = ud.byte_span.new(16)
    local fib = spawn(function()
        this_fiber.disable_interruption()
        local n = b:receive(buf)
        this_fiber.restore_interruption()
        return tostring(buf:slice(1, n))
    end)
    sleep(0.01)
    fib:interrupt()
    sleep(0.01)
    a:send("delivered")
    tap.is(fib:join(), "delivered", "nor a pending receive, which gets its datagram")
    a:close()
    b:close()
end

do
    local trace = {}
    local fib
    fib = spawn(function()
        fib:interrupt()
        this_fiber.disable_interruption()
        this_fiber.yield()
        trace[#trace + 1] = "yielded"
        this_fiber.restore_interruption()
        trace[#trace + 1] = "restored"
        this_fiber.yield()
        trace[#trace + 1] = "not reached"
    end)
    fib:join()
    tap.is(table.concat(trace, " "), "yielded restored",
        "restore_interruption() is no interruption point; the next blocking call is")
end

do
    local fib
    local results = {}
    local helper = spawn(function() sleep(0.01); fib:interrupt() end)
    fib = spawn(function()
        results[1] = pcall(helper.join, helper)
        this_fiber.disable_interruption()
        results[2] = pcall(function()
            this_fiber.restore_interruption()
            return helper:join()
        end)
        this_fiber.disable_interruption()
        results[3] = pcall(helper.join, helper)
    end)
    fib:join()
    tap.ok(results[1] == false and results[2] == false and results[3] == true,
        "an interrupted join raises; restored, the next one raises; disabled, one succeeds")
end

do
    local fib = spawn(function()
        this_fiber.disable_interruption()
        this_fiber.disable_interruption()
        this_fiber.restore_interruption()
        local still = pcall(sleep, 0)
        this_fiber.restore_interruption()
        local now = pcall(sleep, 0)
        return still, now
    end)
    fib:interrupt()
    local still, now = fib:join()
    tap.ok(still == true and now == false, "disable_interruption() counts: each needs its restore")
end

-- local_, is_main, id and the table itself ----------------------------------------------

do
    local fib = spawn(function()
        local mine = this_fiber.local_
        mine.value = "fiber's"
        sleep(0)
        return this_fiber.local_ == mine and this_fiber.local_.value, this_fiber.local_
    end)
    this_fiber.local_.value = "main's"
    local value, theirs = fib:join()
    tap.ok(value == "fiber's" and theirs ~= this_fiber.local_ and this_fiber.local_.value == "main's",
        "local_ is one table per fiber, the same at every read")
end

do
    local fib = spawn(function()
        local co = coroutine.wrap(function() return this_fiber.local_ end)
        return co() == this_fiber.local_
    end)
    tap.ok(fib:join(), "a coroutine inside a fiber shares the fiber's local_")
end

tap.is(this_fiber.is_main, true, "is_main is true in the script's main fiber")
tap.is(spawn(function() return this_fiber.is_main end):join(), false,
    "is_main is false in a spawned fiber")

do
    local main_id = this_fiber.id
    local a = spawn(function() local first = this_fiber.id; sleep(0); return first, this_fiber.id end)
    local b = spawn(function() return this_fiber.id end)
    local a1, a2 = a:join()
    local b1 = b:join()
    tap.ok(type(main_id) == "string" and a1 == a2 and a1 ~= b1 and a1 ~= main_id and main_id == this_fiber.id,
        "id is a string, stable within a fiber and different between fibers")
end

tap.is(getmetatable(this_fiber), "this_fiber", "getmetatable(this_fiber) is its name")
tap.raises({name = "EPERM"}, "this_fiber cannot be assigned to", function() this_fiber.yield = print end)
tap.raises({name = "bad_index", index = 2}, "reading an unknown field raises bad_index, as in Emilua",
    function() return this_fiber.no_such_field end)
tap.raises({name = "bad_index"}, "so does an unknown field of a fiber",
    function() return spawn(function() end).no_such_field end)

ud.run()
tap.done()
