-- The binding under load: 200,000 datagrams each carrying a descriptor, a
-- thousand sockets with pending receives closed at random moments, many
-- fibers sending to one full unconnected receiver, and a receiver out of
-- descriptor numbers (a child process under `ulimit -n`).
--
-- Each part ends with the process holding the descriptors it started with,
-- and each but the last runs twice: a warm-up round, then a measured one
-- after which Lua's memory (after full collections) must not have grown
-- beyond a small bound.
--
-- UNIXDGRAM_LUA_STRESS_DATAGRAMS sets how many datagrams the first part moves
-- (default 200,000).
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, filesystem, file_descriptor = ud.unix, ud.byte_span, ud.filesystem,
    ud.file_descriptor
local spawn, sleep = ud.spawn, ud.sleep
local flag = unix.message_flag

local script_arguments = {...}

-- Descriptors this process has open, counted in-process: /proc/self/fd/N is
-- absent (ENOENT) for a number not in use. Opening one that is in use may
-- succeed (it is closed again at once) or fail otherwise (a socket: ENXIO).
local ENOENT = 2
local function open_fd_count()
    local status = assert(io.open("/proc/self/status"))
    local table_size = tonumber(status:read("a"):match("FDSize:%s*(%d+)"))
    status:close()
    local count = 0
    for fd = 0, table_size - 1 do
        local file, _, errno = io.open("/proc/self/fd/" .. fd)
        if file then
            file:close()
            count = count + 1
        elseif errno ~= ENOENT then
            count = count + 1
        end
    end
    return count
end

local function full_collect()
    collectgarbage("collect")
    collectgarbage("collect")
    return collectgarbage("count")
end

-- Wall-clock seconds, to a hundredth.
local function now()
    local uptime = assert(io.open("/proc/uptime"))
    local seconds = uptime:read("n")
    uptime:close()
    return seconds
end

local function null_fd()
    local null = assert(io.open("/dev/null"))
    local fd = file_descriptor.from_file(null)
    null:close()
    return fd
end

-- The child's side of the last part: a receiver whose descriptor table is
-- full. It prints one line per datagram and a last line with its counts.
if script_arguments[1] == "receiver-at-limit" then
    local receiver = unix.datagram_socket.new()
    receiver:open()
    receiver:bind(filesystem.path.new("\0" .. script_arguments[2]))
    local baseline = open_fd_count()
    -- Every free number taken, then two let go.
    local template = null_fd()
    local holders = {}
    while true do
        local ok, holder = pcall(template.dup, template)
        if not ok then
            break
        end
        holders[#holders + 1] = holder
    end
    local held = #holders
    for _ = 1, 2 do
        table.remove(holders):close()
    end
    print("ready " .. held)
    io.stdout:flush()
    local buffer = byte_span.new(64)
    local kept = {}
    local function receive_one()
        local n, fds, flags = receiver:receive_with_fds(buffer, 8)
        print(string.format("datagram %s fds=%d truncated=%s control_truncated=%s",
            tostring(buffer:slice(1, n)), #fds, flags & flag.truncated ~= 0,
            flags & flag.control_truncated ~= 0))
        for _, fd in ipairs(fds) do
            kept[#kept + 1] = fd
        end
    end
    receive_one() -- two numbers free: two of four descriptors installed
    receive_one() -- none free: none installed
    for _, fd in ipairs(kept) do
        fd:close()
    end
    kept = {}
    for _, holder in ipairs(holders) do
        holder:close()
    end
    holders = {}
    receive_one() -- room again: all four
    for _, fd in ipairs(kept) do
        fd:close()
    end
    template:close()
    collectgarbage()
    print(string.format("done baseline=%d now=%d", baseline, open_fd_count()))
    receiver:close()
    return
end

-- The event loop opens descriptors of its own (epoll, eventfd, timerfd) on
-- first use: count after that.
local function warm_up()
    unix.datagram_socket.pair()
    sleep(0)
end
warm_up()
full_collect()
local baseline_fds = open_fd_count()

-- Runs `part(round)` twice; after each round the descriptors must be back at
-- the baseline, and after the second Lua's memory within `growth_kib` of
-- what it was after the first.
local function twice_without_growth(name, growth_kib, part)
    local memory = {}
    for round = 1, 2 do
        part(round)
        memory[round] = full_collect()
        local leaked = open_fd_count() - baseline_fds
        tap.is(leaked, 0, string.format("%s, round %d: no descriptor leaked", name, round))
    end
    tap.ok(memory[2] - memory[1] < growth_kib,
        string.format("%s: Lua memory does not grow between rounds", name),
        string.format("%.0f KiB after the first round, %.0f KiB after the second", memory[1],
            memory[2]))
    tap.diag(string.format("%s: Lua memory %.0f KiB, then %.0f KiB", name, memory[1], memory[2]))
end

-- 1. Datagrams each carrying a descriptor -------------------------------------

local datagram_total = math.tointeger(tonumber(os.getenv("UNIXDGRAM_LUA_STRESS_DATAGRAMS") or ""))
if not datagram_total or datagram_total < 2 then
    datagram_total = 200000
end

-- A sender fiber and a receiver fiber over a pair; each datagram carries its
-- sequence number and a /dev/null descriptor, which the receiver closes.
local function move_datagrams(count)
    local sender, receiver = unix.datagram_socket.pair()
    local fd = null_fd()
    local result = {received = 0, fds = 0, out_of_order = 0, wrong = 0}
    local started = now()
    local sending = spawn(function()
        local fds = {fd}
        for sequence = 1, count do
            sender:send_with_fds(string.pack("<I4", sequence), fds)
        end
    end)
    local receiving = spawn(function()
        local buffer = byte_span.new(16)
        for sequence = 1, count do
            local n, fds, flags = receiver:receive_with_fds(buffer, 4)
            if n ~= 4 or flags ~= 0 or #fds ~= 1 then
                result.wrong = result.wrong + 1
            elseif string.unpack("<I4", tostring(buffer:slice(1, 4))) ~= sequence then
                result.out_of_order = result.out_of_order + 1
            end
            for _, received in ipairs(fds) do
                received:close()
                result.fds = result.fds + 1
            end
            result.received = result.received + 1
        end
    end)
    sending:join()
    receiving:join()
    result.seconds = now() - started
    fd:close()
    sender:close()
    receiver:close()
    return result
end

local moved
twice_without_growth("datagrams with descriptors", 512, function(round)
    -- The warm-up round is smaller; a leak per datagram shows in the second.
    local count = round == 1 and math.min(10000, datagram_total // 2) or datagram_total
    local result = move_datagrams(count)
    tap.is(result.received, count, string.format("round %d: %d datagrams received", round, count))
    tap.is(result.fds, count, string.format("round %d: each with its descriptor", round))
    tap.is(result.wrong + result.out_of_order, 0,
        string.format("round %d: every payload intact and in order", round))
    moved = result
end)
tap.diag(string.format("%d datagrams, %d descriptors moved in %.2f s (%.0f datagrams/s)%s",
    moved.received, moved.fds, moved.seconds, moved.received / math.max(moved.seconds, 0.01),
    datagram_total ~= 200000 and " (count set by UNIXDGRAM_LUA_STRESS_DATAGRAMS)" or ""))

-- 2. Pending receives closed at random moments ------------------------------------

local ECANCELED = 125

-- 500 pairs: every socket has a fiber waiting in a receive (with descriptors
-- for half of them). Closer fibers close the sockets in a random order at
-- random moments while other fibers send to some of them: each receive ends
-- with its datagram or with ECANCELED, nothing else.
local function close_pending(round)
    math.randomseed(round)
    local pair_count = 500
    local sockets = {}
    for i = 1, pair_count do
        sockets[2 * i - 1], sockets[2 * i] = unix.datagram_socket.pair()
    end
    local outcomes = {received = 0, canceled = 0, other = 0}
    local receivers = {}
    for i, socket in ipairs(sockets) do
        receivers[i] = spawn(function()
            local ok, err
            if i % 2 == 0 then
                ok, err = pcall(socket.receive_with_fds, socket, byte_span.new(8), 2)
            else
                ok, err = pcall(socket.receive, socket, byte_span.new(8))
            end
            if ok then
                outcomes.received = outcomes.received + 1
            elseif type(err) == "table" and err.code == ECANCELED then
                outcomes.canceled = outcomes.canceled + 1
            else
                outcomes.other = outcomes.other + 1
                tap.diag("unexpected: " .. tostring(err))
            end
        end)
    end
    sleep(0) -- every receiver is now waiting
    local order = {}
    for i = 1, #sockets do
        order[i] = i
    end
    for i = #order, 2, -1 do
        local j = math.random(i)
        order[i], order[j] = order[j], order[i]
    end
    local closers = {}
    for c = 1, 20 do
        closers[c] = spawn(function()
            for k = c, #order, 20 do
                local socket = sockets[order[k]]
                if math.random(4) == 1 then
                    sleep(math.random() * 0.002)
                end
                -- Sometimes the peer sends first: that receive may complete.
                if math.random(3) == 1 then
                    local peer = sockets[order[k] % 2 == 0 and order[k] - 1 or order[k] + 1]
                    if pcall(peer.send, peer, "x") and math.random(2) == 1 then
                        sleep(0)
                    end
                end
                socket:close()
            end
        end)
    end
    for _, closer in ipairs(closers) do
        closer:join()
    end
    for _, receiver in ipairs(receivers) do
        receiver:join()
    end
    return outcomes
end

twice_without_growth("pending receives closed", 256, function(round)
    local started = now()
    local outcomes = close_pending(round)
    tap.is(outcomes.received + outcomes.canceled, 1000,
        string.format("round %d: all 1000 pending receives ended", round))
    tap.is(outcomes.other, 0,
        string.format("round %d: each with its datagram or ECANCELED", round))
    tap.diag(string.format("round %d: %d received, %d canceled in %.2f s", round,
        outcomes.received, outcomes.canceled, now() - started))
end)

-- 3. Many senders, one full unconnected receiver -----------------------------------

-- Two receivers, one bound to a filesystem path and one to an abstract name,
-- fill up (a datagram socket queues only net.unix.max_dgram_qlen datagrams
-- from unconnected senders); 200 sender fibers, each with its own unbound
-- socket, wait on them until they drain.
local function full_receiver(round)
    local paths = {
        filesystem.path.new(tap.socket_path("full-" .. round)),
        -- The pid as well as an address: under AddressSanitizer, whose heap
        -- is at the same addresses in every process, the host and lua5.4
        -- running at once could otherwise pick the same name.
        filesystem.path.new("\0unixdgram-lua-stress-" .. tap.pid() .. "-"
            .. tostring({}):match("0x%x+") .. round),
    }
    local receivers = {}
    for i, path in ipairs(paths) do
        receivers[i] = unix.datagram_socket.new()
        receivers[i]:open()
        receivers[i]:bind(path)
    end
    local fd = null_fd()
    local sender_count, per_sender = 200, 10
    local sent = 0
    local senders = {}
    for s = 1, sender_count do
        senders[s] = spawn(function()
            local socket = unix.datagram_socket.new()
            socket:open()
            local fds = {fd}
            for sequence = 1, per_sender do
                socket:send_to_with_fds(string.pack("<I4I4", s, sequence), paths[s % 2 + 1], fds)
                sent = sent + 1
            end
            socket:close()
        end)
    end
    local wall, cpu = now(), os.clock()
    sleep(0.1)
    wall, cpu = now() - wall, os.clock() - cpu
    local sent_while_full = sent
    local received, fds_received, out_of_order = 0, 0, 0
    local drains = {}
    for i, receiver in ipairs(receivers) do
        drains[i] = spawn(function()
            local buffer = byte_span.new(16)
            local last = {}
            for _ = 1, sender_count * per_sender // 2 do
                local n, fds = receiver:receive_with_fds(buffer, 4)
                if n == 8 then
                    local s, sequence = string.unpack("<I4I4", tostring(buffer:slice(1, n)))
                    if sequence ~= (last[s] or 0) + 1 then
                        out_of_order = out_of_order + 1
                    end
                    last[s] = sequence
                else
                    out_of_order = out_of_order + 1
                end
                for _, received_fd in ipairs(fds) do
                    received_fd:close()
                    fds_received = fds_received + 1
                end
                received = received + 1
            end
        end)
    end
    for _, sender in ipairs(senders) do
        sender:join()
    end
    for _, drain in ipairs(drains) do
        drain:join()
    end
    for _, receiver in ipairs(receivers) do
        receiver:close()
    end
    os.remove(tostring(paths[1]))
    fd:close()
    return {sent_while_full = sent_while_full, received = received, fds = fds_received,
        out_of_order = out_of_order, blocked_wall = wall, blocked_cpu = cpu}
end

twice_without_growth("senders on a full receiver", 256, function(round)
    local result = full_receiver(round)
    tap.ok(result.sent_while_full < 2000,
        string.format("round %d: the receivers fill up and senders wait", round),
        string.format("%d of 2000 sent before draining", result.sent_while_full))
    tap.is(result.received, 2000, string.format("round %d: every datagram arrives", round))
    tap.is(result.fds, 2000, string.format("round %d: with its descriptor", round))
    tap.is(result.out_of_order, 0,
        string.format("round %d: each payload intact, in its sender's order", round))
    tap.diag(string.format("round %d: %d sent before the receivers drained; while waiting "
        .. "%.2f s CPU in %.2f s", round, result.sent_while_full, result.blocked_cpu,
        result.blocked_wall))
end)

-- 4. A receiver out of descriptor numbers ------------------------------------------

-- The child (this script again, under `ulimit -n 64`) fills its descriptor
-- table but for two numbers, then receives three datagrams of four
-- descriptors each: the first gets two and control_truncated, the second
-- none and control_truncated, the third (after the child let go of its
-- holders) all four. The kernel drops what it cannot install.
local function quote(text)
    return "'" .. text:gsub("'", "'\\''") .. "'"
end

local function receiver_at_limit()
    local name = "unixdgram-lua-stress-limit-" .. tap.pid() .. "-" .. tostring({}):match("0x%x+")
    local command = string.format("ulimit -n 64 && exec %s %s receiver-at-limit %s",
        quote(arg[-1]), quote(arg[0]), name)
    local child = assert(io.popen(command, "r"))
    local ready = child:read("l")
    tap.like(ready, "^ready %d+", "the child filled its descriptor table")
    local sender = unix.datagram_socket.new()
    sender:open()
    local fd = null_fd()
    local four = {fd, fd, fd, fd}
    for sequence = 1, 3 do
        sender:send_to_with_fds("dgram" .. sequence, filesystem.path.new("\0" .. name), four)
    end
    local lines = {}
    for line in child:lines() do
        lines[#lines + 1] = line
    end
    local ok, how, status = child:close()
    sender:close()
    fd:close()
    tap.ok(ok, "the child exits cleanly", tostring(how) .. " " .. tostring(status))
    tap.is(lines[1], "datagram dgram1 fds=2 truncated=false control_truncated=true",
        "two numbers free: payload, two descriptors, control_truncated")
    tap.is(lines[2], "datagram dgram2 fds=0 truncated=false control_truncated=true",
        "no number free: payload, no descriptor, control_truncated")
    tap.is(lines[3], "datagram dgram3 fds=4 truncated=false control_truncated=false",
        "room again: all four descriptors")
    local child_baseline, child_now = (lines[4] or ""):match("^done baseline=(%d+) now=(%d+)")
    tap.ok(child_baseline and child_baseline == child_now,
        "the child ends with the descriptors it started with", lines[4])
    tap.diag("child: " .. table.concat(lines, "; "))
end

receiver_at_limit()
full_collect()
local leaked = open_fd_count() - baseline_fds
tap.is(leaked, 0, "receiver at its limit: no descriptor leaked in this process")
tap.diag(string.format("descriptors leaked overall: %d", leaked))

tap.done()
