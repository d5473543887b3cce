-- test/lua/tap.lua — a small TAP producer for the Lua tests.
--
-- Each check prints "ok N - name" or "not ok N - name" with a diagnostic;
-- done() prints the plan. The tests find this file through LUA_PATH, which
-- test/lua/meson.build sets.

local tap = {}

local count = 0
local failures = 0
-- GC-stress mode's state (see tap.gc_stress below).
local stress = {cycles = 0, calls = 0, failures = {}, paused = false, enabled = false}

local function describe(value)
    if type(value) == "string" then
        return string.format("%q", value)
    end
    return tostring(value)
end

-- The reason the next check is expected to fail, for a TAP TODO directive:
-- its failure is reported as expected, its passing as unexpected (a failure
-- to meson), so that the directive goes once the work is done.
local todo_reason = nil

function tap.todo(reason)
    todo_reason = reason
end

function tap.ok(condition, name, diagnostic)
    count = count + 1
    local todo = todo_reason
    todo_reason = nil
    if todo then
        print(string.format("%s %d - %s # TODO %s", condition and "ok" or "not ok", count, name,
            todo))
        if not condition and diagnostic then
            print("# " .. tostring(diagnostic):gsub("\n", "\n# "))
        end
    elseif condition then
        print(string.format("ok %d - %s", count, name))
    else
        failures = failures + 1
        print(string.format("not ok %d - %s", count, name))
        if diagnostic then
            print("# " .. tostring(diagnostic):gsub("\n", "\n# "))
        end
    end
    return condition
end

function tap.is(got, expected, name)
    return tap.ok(got == expected, name,
        string.format("got %s, expected %s", describe(got), describe(expected)))
end

function tap.like(got, pattern, name)
    local matched = type(got) == "string" and got:find(pattern) ~= nil
    return tap.ok(matched, name,
        string.format("got %s, expected to match %q", describe(got), pattern))
end

-- Calls fn(...) and expects it to raise. `expected` is a table of fields the
-- error object must have ({name = "EINVAL", arg = 2}, plus `message`, a
-- pattern, and `category`, the category object's name) or a pattern for
-- tostring(error). Returns the error.
function tap.raises(expected, name, fn, ...)
    local ok, err = pcall(fn, ...)
    if ok then
        tap.ok(false, name, "no error raised")
        return nil
    end
    if type(expected) == "string" then
        tap.like(tostring(err), expected, name)
        return err
    end
    local problems = {}
    for field, value in pairs(expected) do
        local got = type(err) == "table" and err[field] or nil
        local fine
        if field == "message" then
            fine = type(got) == "string" and got:find(value) ~= nil
        elseif field == "category" then
            fine = type(got) == "userdata" and tostring(got) == value
        else
            fine = got == value
        end
        if not fine then
            problems[#problems + 1] = string.format("%s: got %s, expected %s", field,
                describe(got), describe(value))
        end
    end
    if #problems > 0 then
        problems[#problems + 1] = "error: " .. tostring(err)
    end
    tap.ok(#problems == 0, name, table.concat(problems, "\n"))
    return err
end

-- Calls fn(...) and expects no error; returns its results.
function tap.lives(name, fn, ...)
    local results = table.pack(pcall(fn, ...))
    tap.ok(results[1], name, results[2])
    return table.unpack(results, 2, results.n)
end

function tap.diag(text)
    print("# " .. tostring(text):gsub("\n", "\n# "))
end

-- This process's pid, for names no other process running the same test
-- (the host's and lua5.4's runs, in parallel) can hold at the same time.
function tap.pid()
    local stat = assert(io.open("/proc/self/stat"))
    local pid = stat:read("n")
    stat:close()
    return pid
end

-- The number of descriptors this process has open, pipes aside (entries of
-- /proc/PID/fd; /proc/self would be the counting process). Pipes are left out
-- because the pipe to the counting process is in the listing or not depending
-- on whether popen has closed the child's end yet.
function tap.fd_count()
    stress.paused = true -- its descriptors come and go while ls lists them
    local listing = assert(io.popen("ls -l /proc/" .. tap.pid() .. "/fd"))
    local entries = 0
    for line in listing:lines() do
        if line:find(" -> ") and not line:find("-> pipe:") then
            entries = entries + 1
        end
    end
    listing:close()
    stress.paused = false
    return entries
end

-- The descriptor count a test compares with at its end. The event loop of
-- `ud` (the module) opens descriptors of its own (epoll, eventfd, timerfd) on
-- first use, so it runs once first; in a function whose frame ends, so that
-- no stale register keeps its socket alive.
function tap.fd_baseline(ud)
    local function warm_up()
        ud.unix.datagram_socket.pair()
        ud.sleep(0)
    end
    warm_up()
    collectgarbage()
    collectgarbage()
    return tap.fd_count()
end

-- A fresh socket path in a private directory.
local directory
function tap.socket_path(name)
    if not directory then
        local maker = assert(io.popen("mktemp -d /tmp/unixdgram-lua.XXXXXX"))
        directory = maker:read("l")
        maker:close()
    end
    return directory .. "/" .. name
end

-- Garbage collection at every allocation check ---------------------------------

-- The collector in its most eager setting: pause 0 (setgcparam stores 1/4,
-- which is 0), and a step size past log2 of the largest debt, so that every
-- step runs until the cycle is complete. Each allocation check that follows
-- an allocation then runs a full cycle, finalizers included (Lua runs the
-- finalizers of a cycle within its last step). test_finalizers.lua measures it.
function tap.collect_at_every_check()
    collectgarbage("incremental", 1, 100, 63)
    collectgarbage() -- a cycle ending under the new pause: the debt is 0 from here
end

-- Back to Lua's defaults, unless the whole run is under GC stress.
function tap.collect_normally()
    if tap.gc_stress then
        return tap.collect_at_every_check()
    end
    collectgarbage("incremental", 200, 100, 13)
    collectgarbage()
end

-- Makes an object nothing refers to, whose finalizer calls fn: under
-- collect_at_every_check(), fn runs at the next allocation check.
function tap.on_next_collection(fn)
    setmetatable({}, {__gc = function() fn() end})
end

-- GC-stress mode (UNIXDGRAM_LUA_GC_STRESS=1, meson test --setup gc_stress):
-- the collector runs a full cycle at every allocation check, and an object
-- that keeps coming back has a finalizer that calls into the binding at each
-- cycle: sends and receives (with descriptors) on a pair of its own, batch
-- calls of growing size, descriptors opened and closed. Any binding function
-- that keeps a pointer or number taken from Lua across an allocation then
-- meets a finalizer that changed what it points to.
tap.gc_stress = (os.getenv("UNIXDGRAM_LUA_GC_STRESS") or "") ~= "" and
    os.getenv("UNIXDGRAM_LUA_GC_STRESS") ~= "0"

local function stress_finalizer_work(ud)
    local r = stress.resources
    if not r then
        local a, b = ud.unix.datagram_socket.pair()
        local spans = {}
        for i = 1, 1024 do
            spans[i] = ud.byte_span.new(8)
        end
        r = {a = a, b = b, spans = spans, lengths = {}, batch = {}, size = 1,
             null = ud.file_descriptor.from_file(io.stdin)}
        stress.resources = r
    end
    -- Batches one larger each cycle, up to 1024 spans received into and 128
    -- datagrams sent (more might not fit in the pair's buffer): the binding's
    -- shared batch storage moves while it grows. It never shrinks, so once
    -- it holds 1024 entries no batch moves it again, and the cycles after
    -- that take small batches (1 to 8) rather than re-send up to 128
    -- datagrams per collection for nothing.
    if not r.grown then
        r.size = r.size + 1
        r.grown = r.size == 1024
    else
        r.size = r.size % 8 + 1
    end
    local spans = table.move(r.spans, 1, r.size, 1, {})
    local sent = math.min(r.size, 128)
    for i = #r.batch + 1, sent do
        r.batch[i] = "g"
    end
    for i = sent + 1, #r.batch do
        r.batch[i] = nil
    end
    r.a:send_many(r.batch)
    local got = 0
    while got < sent do
        got = got + r.b:receive_many(spans, r.lengths)
    end
    -- Descriptors opened and closed, some sent on the way.
    local copy = r.null:dup()
    r.a:send_with_fds("f", {copy})
    copy:close()
    local _, fds = r.b:receive_with_fds(ud.byte_span.new(4), 4)
    for _, fd in ipairs(fds) do
        fd:close()
    end
    r.a:send("s")
    r.b:receive_from(ud.byte_span.new(4))
    stress.calls = stress.calls + 8
end

local function stress_sentinel()
    setmetatable({}, {__gc = function()
        if not stress.enabled then
            return
        end
        stress.cycles = stress.cycles + 1
        if not stress.paused and not stress.busy then
            stress.busy = true
            local ok, err = pcall(stress_finalizer_work, stress.ud)
            stress.busy = false
            if not ok and #stress.failures < 5 then
                stress.failures[#stress.failures + 1] = tostring(err)
            end
        end
        stress_sentinel()
    end})
end

if tap.gc_stress then
    stress.ud = require "unixdgram"
    stress.enabled = true
    tap.collect_at_every_check()
    stress_sentinel()
end

function tap.done()
    if tap.gc_stress then
        stress.enabled = false
        tap.ok(stress.cycles > 0 and #stress.failures == 0,
            "under GC stress, finalizers called into the binding at each cycle without error",
            table.concat(stress.failures, "\n"))
        tap.diag(string.format("GC stress: %d collections ran the finalizer, which made %d binding calls",
            stress.cycles, stress.calls))
    end
    if directory then
        os.execute("rm -rf '" .. directory .. "'")
    end
    print(string.format("1..%d", count))
    return failures == 0
end

return tap
