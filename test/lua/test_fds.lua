-- Passing descriptors: send_with_fds, send_to_with_fds, receive_with_fds,
-- receive_from_with_fds, maxfds, truncation and descriptor counts.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, filesystem, file_descriptor = ud.unix, ud.byte_span, ud.filesystem,
    ud.file_descriptor
local flag = unix.message_flag

-- Work is done in functions whose frames end, so that no stale register
-- keeps a socket alive when descriptors are counted.
local before = tap.fd_baseline(ud)

local function scenarios()
    local function temp_fd(contents)
        local file = io.tmpfile()
        file:write(contents)
        file:flush()
        local fd = file_descriptor.from_file(file)
        file:close()
        return fd
    end

    local function read_fd(fd)
        local file = fd:to_file("r")
        file:seek("set", 0)
        local contents = file:read("a")
        file:close()
        return contents
    end

    local a, b = unix.datagram_socket.pair()
    local buf = byte_span.new(64)

    -- one descriptor
    local fd = temp_fd("passed along")
    tap.is(a:send_with_fds("with fd", {fd}), 7, "send_with_fds returns the bytes sent")
    tap.like(tostring(fd), "^/dev/fd/", "the sender keeps its descriptor")
    local n, fds, flags = b:receive_with_fds(buf, 4)
    tap.is(tostring(buf:slice(1, n)), "with fd", "receive_with_fds gets the bytes")
    tap.is(#fds, 1, "the receive hands over the descriptor")
    tap.is(flags, 0, "the receive reports no flags")
    tap.is(getmetatable(fds[1]), "file_descriptor", "the descriptor comes as a file_descriptor")
    tap.is(read_fd(fds[1]), "passed along", "the received descriptor opens the same file")
    fd:close()

    -- several, a zero-byte datagram, maxfds clamped
    local three = {temp_fd("1"), temp_fd("2"), temp_fd("3")}
    tap.is(a:send_with_fds("", three), 0, "a zero-byte datagram may carry descriptors")
    n, fds, flags = b:receive_with_fds(buf, 1000)
    tap.is(n, 0, "zero bytes received")
    tap.is(#fds, 3, "maxfds above 253 is clamped, not refused")
    tap.is(read_fd(fds[1]) .. read_fd(fds[2]) .. read_fd(fds[3]), "123",
        "the descriptors come in the order they were sent")

    -- more than maxfds: the rest are closed and control_truncated says so
    local counted = tap.fd_count()
    a:send_with_fds("too many", three)
    n, fds, flags = b:receive_with_fds(buf, 1)
    tap.is(#fds, 1, "only maxfds descriptors are handed over")
    tap.ok(flags & flag.control_truncated ~= 0, "control_truncated says some were lost")
    fds[1]:close()
    tap.is(tap.fd_count(), counted, "the descriptors beyond maxfds were closed")

    -- truncated bytes with descriptors
    a:send_with_fds("a datagram longer than four bytes", {three[1]})
    n, fds, flags = b:receive_with_fds(byte_span.new(4), 2)
    tap.is(n, 4, "a truncated datagram fills the buffer")
    tap.ok(flags & flag.truncated ~= 0, "the truncated receive_with_fds says truncated")
    tap.is(#fds, 1, "its descriptor still comes")
    fds[1]:close()

    -- plain receive drops descriptors
    counted = tap.fd_count()
    a:send_with_fds("dropped", three)
    n = b:receive(buf)
    tap.is(tostring(buf:slice(1, n)), "dropped", "a plain receive gets the bytes")
    tap.is(tap.fd_count(), counted, "the kernel closes the descriptors a plain receive leaves")

    -- peek
    a:send_with_fds("peeked", {three[2]})
    n, fds, flags = b:receive_with_fds(buf, 1, flag.peek)
    tap.is(#fds, 1, "peeking gets a descriptor")
    fds[1]:close()
    n, fds = b:receive_with_fds(buf, 1)
    tap.is(#fds, 1, "the datagram is still queued, descriptors and all")
    fds[1]:close()

    -- named sockets
    local server_path = filesystem.path.new(tap.socket_path("fd-server"))
    local server = unix.datagram_socket.new()
    server:open()
    server:bind(server_path)
    local client = unix.datagram_socket.new()
    client:open()
    client:bind(tap.socket_path("fd-client"))
    tap.is(client:send_to_with_fds("to", server_path, {three[3]}), 2,
        "send_to_with_fds returns the bytes sent")
    local from
    n, from, fds, flags = server:receive_from_with_fds(buf, 2)
    tap.is(tostring(from), tap.socket_path("fd-client"), "receive_from_with_fds names the sender")
    tap.is(#fds, 1, "receive_from_with_fds hands over the descriptor")
    tap.is(flags, 0, "receive_from_with_fds reports no flags")
    tap.is(read_fd(fds[1]), "3", "the right one")

    -- argument errors
    tap.raises({name = "EINVAL", arg = 3, message = "at least 1"}, "maxfds 0 raises",
        b.receive_with_fds, b, buf, 0)
    tap.raises({name = "EINVAL", arg = 3, message = "at least 1"}, "maxfds -1 raises",
        b.receive_with_fds, b, buf, -1)
    tap.raises({name = "EINVAL", arg = 3, message = "integer expected"}, "maxfds '1' raises",
        b.receive_with_fds, b, buf, "1")
    tap.raises({name = "EINVAL", arg = 3}, "maxfds 1.5 raises", b.receive_with_fds, b, buf, 1.5)
    tap.raises({name = "EINVAL", arg = 3}, "maxfds missing raises",
        server.receive_from_with_fds, server, buf)
    tap.raises({name = "EINVAL", arg = 3, message = "table of file_descriptor expected"},
        "fds not a table raises", a.send_with_fds, a, "x", three[1])
    tap.raises({name = "EINVAL", arg = 3, message = "index 2"}, "a non-fd in fds raises",
        a.send_with_fds, a, "x", {three[1], "/dev/null"})
    local closed = temp_fd("")
    closed:close()
    tap.raises({name = "EBUSY", arg = 3, message = "closed"}, "a closed fd in fds raises EBUSY",
        a.send_with_fds, a, "x", {closed})
    local many = {}
    for i = 1, 254 do
        many[i] = three[1]
    end
    tap.raises({name = "too_many_fds", category = "unixdgram", arg = 3},
        "254 descriptors raise too_many_fds", a.send_with_fds, a, "x", many)
    tap.raises({name = "too_many_fds", arg = 3, message = "bad argument #2"},
        "called as a method, arg counts self as Emilua does, the message as written",
        function() return a:send_with_fds("x", many) end)
    many[254] = nil
    tap.is(a:send_with_fds("", many), 0, "253 descriptors fit")
    n, fds = b:receive_with_fds(buf, 253)
    tap.is(#fds, 253, "all 253 descriptors arrive")
    for _, each in ipairs(fds) do
        each:close()
    end
    tap.raises({name = "EINVAL", arg = 4}, "send_to_with_fds with a number for fds raises",
        client.send_to_with_fds, client, "x", server_path, 1)
    tap.raises({name = "EINVAL", arg = 2}, "receive_with_fds into a string raises",
        b.receive_with_fds, b, "x", 1)

    -- in a fiber, waiting
    local receiver = ud.spawn(function()
        local count, got = b:receive_with_fds(buf, 8)
        return count, read_fd(got[1])
    end)
    ud.sleep(0.02)
    a:send_with_fds("late", {three[2]})
    local count, contents = receiver:join()
    tap.is(count, 4, "a fiber waiting in receive_with_fds gets the datagram")
    tap.is(contents, "2", "the waiting fiber gets the datagram's descriptor")

    for _, each in ipairs(three) do
        each:close()
    end
    a:close(); b:close(); server:close(); client:close()
end
scenarios()

-- A finalizer that receives descriptors on another socket may run while a
-- receive hands its own descriptors to Lua (any allocation may run one): the
-- outer call must still return its own, open descriptors.
local function finalizer_receives_meanwhile()
    local a, b = unix.datagram_socket.pair()
    local c, d = unix.datagram_socket.pair()
    local null_file = io.open("/dev/null")
    local null = file_descriptor.from_file(null_file)
    null_file:close()
    local four = {null, null, null, null}
    local inner, outer = byte_span.new(16), byte_span.new(16)
    local inside, nested, broken = false, 0, 0
    local receives_in_finalizer = {__gc = function()
        if inside and d:io_control("bytes_readable") > 0 then
            nested = nested + 1
            local ok, _, extra = pcall(d.receive_with_fds, d, inner, 8)
            if ok then
                for _, fd in ipairs(extra) do fd:close() end
            end
        end
    end}
    -- Collect in small, frequent steps, so that finalizers run inside calls.
    collectgarbage("incremental", 10, 1000)
    for round = 1, 2000 do
        for _ = 1, round % 37 + 1 do
            setmetatable({}, receives_in_finalizer)
        end
        c:send_with_fds("y", four)
        a:send_with_fds("x", four)
        inside = true
        local _, fds = b:receive_with_fds(outer, 8)
        inside = false
        for _, fd in ipairs(fds) do
            if not pcall(fd.dup, fd) then broken = broken + 1 end
            pcall(fd.close, fd)
        end
        if d:io_control("bytes_readable") > 0 then
            local _, extra = d:receive_with_fds(inner, 8)
            for _, fd in ipairs(extra) do fd:close() end
        end
    end
    collectgarbage("incremental", 200, 100) -- Lua's defaults
    tap.ok(nested > 0, "finalizers received descriptors inside other receives",
        "nested receives: " .. nested)
    tap.is(broken, 0, "every descriptor the outer receives returned is open")
    null:close()
    a:close(); b:close(); c:close(); d:close()
end
finalizer_receives_meanwhile()

-- A fiber whose thread coroutine.close emptied while it waited: the receive
-- still completes, and no continuation takes its descriptors.
local function closed_while_waiting()
    local a, b = unix.datagram_socket.pair()
    local thread
    local waiter = ud.spawn(function()
        thread = coroutine.running()
        b:receive_with_fds(byte_span.new(4), 4)
    end)
    ud.sleep(0)
    coroutine.close(thread)
    local null = io.open("/dev/null")
    local passed = file_descriptor.from_file(null)
    null:close()
    local counted = tap.fd_count()
    a:send_with_fds("x", {passed, passed})
    ud.sleep(0)
    tap.is(tap.fd_count(), counted,
        "descriptors received for a fiber closed while it waited are closed at once")
    tap.is(select("#", waiter:join()), 0, "and that fiber joins with no results")
    passed:close()
    a:close(); b:close()
end
closed_while_waiting()

collectgarbage()
collectgarbage()
tap.is(tap.fd_count(), before, "every descriptor is closed in the end")

ud.run()
tap.done()
