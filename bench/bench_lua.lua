-- bench/bench_lua.lua — the Lua binding doing what bench_cpp's contenders do,
-- inside a fiber: sockets from unix.datagram_socket.pair(), every call made
-- from Lua.
--
-- Workloads (the ids bench_cpp uses):
--   fill64  32 datagrams of 64 B sent, then received, per batch
--   fd64    the same carrying one descriptor each (send_with_fds and
--           receive_with_fds, closing each descriptor received)
--   batch64 the 32 datagrams of 64 B in one send_many, then receive_many
--           until all are in (one call when the queue holds them all)
--
-- With --floor, only the loops of fill64 and fd64, calling a C method of a
-- string (text:len(), about the least a method call into C can do in stock
-- Lua) in place of each send and each receive, and in fd64's also making
-- what a receive_with_fds returns, a table holding an object with a
-- finalizer, and calling its close method: what Lua itself costs a binding
-- per datagram, before the binding or the kernel do anything.
--
-- Each round times every workload once; the figure kept is the median over
-- the rounds. Lua has no wall clock finer than a second, so the time is
-- os.clock()'s, the process's CPU time: nothing in these loops waits, so on
-- an idle machine the two agree.
--
-- Output, one line per workload, as scripts/bench reads it:
--   <workload id> <ns per datagram> [<target ratio to the raw baseline>]
--
-- Usage: unixdgram-lua bench/bench_lua.lua [--rounds N] [--datagrams N] [--floor]

local batch_size = 32
local rounds, datagrams = 7, 16384
local floor_only = false

local i = 1
while i <= #arg do
    local value = math.tointeger(tonumber(arg[i + 1]))
    if arg[i] == "--floor" then
        floor_only = true
        i = i - 1
    elseif arg[i] == "--rounds" and value and value > 0 then
        rounds = value
    elseif arg[i] == "--datagrams" and value and value > 0 then
        datagrams = value
    else
        error("usage: bench_lua.lua [--rounds N] [--datagrams N] [--floor]")
    end
    i = i + 2
end

-- A function running `batches` batches of send, then receive.
local function fill_drain(payload)
    local sender, receiver = unix.datagram_socket.pair()
    local out = byte_span.new(payload)
    local into = byte_span.new(payload)
    return function(batches)
        for _ = 1, batches do
            for _ = 1, batch_size do
                if sender:send(out) ~= payload then
                    error("short send")
                end
            end
            for _ = 1, batch_size do
                if receiver:receive(into) ~= payload then
                    error("short receive")
                end
            end
        end
    end
end

-- fill_drain's loops with a string's C method in place of send and receive;
-- given `object_metatable`, fd_per_datagram's: per datagram received, what
-- receive_with_fds hands over and the loop closes, a new table holding a new
-- object that has a finalizer and a close method. The object is a table:
-- stock Lua makes no userdata without a system call (io.tmpfile), and a
-- table with __gc takes the same path through the collector.
local function c_method_calls(object_metatable)
    local text = string.rep("x", 64)
    return function(batches)
        for _ = 1, batches do
            for _ = 1, batch_size do
                if text:len() ~= 64 then
                    error("short string")
                end
            end
            if object_metatable then
                for _ = 1, batch_size do
                    if text:len() ~= 64 then
                        error("short string")
                    end
                    local objects = {setmetatable({}, object_metatable)}
                    if #objects ~= 1 then
                        error("no object")
                    end
                    objects[1]:close()
                end
            else
                for _ = 1, batch_size do
                    if text:len() ~= 64 then
                        error("short string")
                    end
                end
            end
        end
    end
end

-- The same, each datagram carrying a descriptor of /dev/null.
local function fd_per_datagram(payload)
    local sender, receiver = unix.datagram_socket.pair()
    local out = byte_span.new(payload)
    local into = byte_span.new(payload)
    local dev_null = assert(io.open("/dev/null"))
    local passed = {file_descriptor.from_file(dev_null)}
    dev_null:close()
    return function(batches)
        for _ = 1, batches do
            for _ = 1, batch_size do
                if sender:send_with_fds(out, passed) ~= payload then
                    error("short send")
                end
            end
            for _ = 1, batch_size do
                local n, fds = receiver:receive_with_fds(into, 1)
                if n ~= payload or #fds ~= 1 then
                    error("short receive")
                end
                fds[1]:close()
            end
        end
    end
end

-- The same 32 datagrams, sent and received a batch per call. The tables are
-- made once: in steady state the loop allocates nothing.
local function batch_per_call(payload)
    local sender, receiver = unix.datagram_socket.pair()
    local out = byte_span.new(payload)
    local datagrams, into, lengths = {}, {}, {}
    for i = 1, batch_size do
        datagrams[i] = out
        into[i] = byte_span.new(payload)
        lengths[i] = 0
    end
    return function(batches)
        for _ = 1, batches do
            if sender:send_many(datagrams) ~= batch_size then
                error("short send_many")
            end
            local received = 0
            while received < batch_size do
                received = received + receiver:receive_many(into, lengths)
                if lengths[1] ~= payload then
                    error("short receive")
                end
            end
        end
    end
end

local function median(values)
    table.sort(values)
    local middle = #values // 2
    if #values % 2 == 1 then
        return values[middle + 1]
    end
    return (values[middle] + values[middle + 1]) / 2
end

local function measure()
    local workloads = {
        {id = "fill64", run = fill_drain(64), target = "1.20"},
        {id = "fd64", run = fd_per_datagram(64), target = "1.25"},
        {id = "batch64", run = batch_per_call(64)},
    }
    if floor_only then
        workloads = {
            {id = "fill64", run = c_method_calls()},
            -- Both metamethods are C functions that do nothing, as a closed
            -- descriptor's are.
            {id = "fd64", run = c_method_calls({__gc = rawlen, __index = {close = rawlen}})},
        }
    end
    local batches = math.max(datagrams // batch_size, 1)
    for _, workload in ipairs(workloads) do
        workload.run(math.max(batches // 8, 1))
        workload.samples = {}
    end
    for _ = 1, rounds do
        for _, workload in ipairs(workloads) do
            local start = os.clock()
            workload.run(batches)
            local elapsed = os.clock() - start
            table.insert(workload.samples, elapsed * 1e9 / (batches * batch_size))
        end
    end
    for _, workload in ipairs(workloads) do
        print(string.format("%s %.1f %s", workload.id, median(workload.samples),
            workload.target or ""))
    end
end

spawn(measure):join()
