-- test/lua/tap.lua — a small TAP producer for the Lua tests.
--
-- Each check prints "ok N - name" or "not ok N - name" with a diagnostic;
-- done() prints the plan. The tests find this file through LUA_PATH, which
-- test/lua/meson.build sets.

local tap = {}

local count = 0
local failures = 0

local function describe(value)
    if type(value) == "string" then
        return string.format("%q", value)
    end
    return tostring(value)
end

function tap.ok(condition, name, diagnostic)
    count = count + 1
    if condition then
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

-- The number of descriptors this process has open, pipes aside (entries of
-- /proc/PID/fd; /proc/self would be the counting process). Pipes are left out
-- because the pipe to the counting process is in the listing or not depending
-- on whether popen has closed the child's end yet.
function tap.fd_count()
    local stat = assert(io.open("/proc/self/stat"))
    local pid = stat:read("n")
    stat:close()
    local listing = assert(io.popen("ls -l /proc/" .. pid .. "/fd"))
    local entries = 0
    for line in listing:lines() do
        if line:find(" -> ") and not line:find("-> pipe:") then
            entries = entries + 1
        end
    end
    listing:close()
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

function tap.done()
    if directory then
        os.execute("rm -rf '" .. directory .. "'")
    end
    print(string.format("1..%d", count))
    return failures == 0
end

return tap
