-- Credentials and pidfds wherever a datagram arrives (every receive, with or
-- without descriptors, at once or after waiting), pass_pidfd and peer_pidfd,
-- and explicit credentials sent with send_message.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, file_descriptor, spawn = ud.unix, ud.byte_span, ud.file_descriptor,
    ud.spawn

local before = tap.fd_baseline(ud)

local function stat_field(index)
    local stat = assert(io.open("/proc/self/stat"))
    local text = stat:read("a")
    stat:close()
    -- pid (comm) state ppid ...: the name may hold spaces, so split after ')'.
    local pid, rest = text:match("^(%d+) %b() (.*)$")
    if index == 1 then return tonumber(pid) end
    local fields = {}
    for word in rest:gmatch("%S+") do fields[#fields + 1] = word end
    return tonumber(fields[index - 2])
end
local my_pid, parent_pid = stat_field(1), stat_field(4)

local function my_ids()
    local status = assert(io.open("/proc/self/status"))
    local text = status:read("a")
    status:close()
    return tonumber(text:match("\nUid:%s+(%d+)")), tonumber(text:match("\nGid:%s+(%d+)"))
end
local my_uid, my_gid = my_ids()

-- The pid a pidfd names, from /proc/self/fdinfo.
local function pid_of(pidfd)
    local number = tostring(pidfd):match("^/dev/fd/(%d+)$")
    if not number then return nil end
    local info = io.open("/proc/self/fdinfo/" .. number)
    if not info then return nil end
    local text = info:read("a")
    info:close()
    return tonumber(text:match("\nPid:%s+(%-?%d+)"))
end

local function scenarios()
    local buf = byte_span.new(64)
    local a, b = unix.datagram_socket.pair()
    b:set_option("pass_credentials", true)

    -- Every receive form reports the sender's credentials after the flags.
    local forms = {
        {"receive", function() return b:receive(buf) end, 3},
        {"receive_from", function() return b:receive_from(buf) end, 4},
        {"receive_with_fds", function() return b:receive_with_fds(buf, 2) end, 4},
        {"receive_from_with_fds", function() return b:receive_from_with_fds(buf, 2) end, 5},
    }
    for _, form in ipairs(forms) do
        local name, receive, credentials_at = form[1], form[2], form[3]
        a:send("who " .. name)
        local results = table.pack(receive())
        tap.is(results[1], 4 + #name, name .. " gets the bytes with pass_credentials on")
        tap.is(results[credentials_at - 1], 0, name .. " reports no flags")
        local who = results[credentials_at]
        tap.is(type(who), "table", name .. " reports credentials after the flags")
        tap.is(who and who.pid, my_pid, name .. " names this process's pid")
        tap.is(who and who.uid, my_uid, name .. " names this process's uid")
        tap.is(who and who.gid, my_gid, name .. " names this process's gid")
        tap.is(results.n, credentials_at, name .. " returns nothing after the credentials")
    end

    -- A receive that waits in a fiber reports them too.
    local waited
    local receiver = spawn(function() waited = table.pack(b:receive(buf)) end)
    spawn(function() a:send("later") end):join()
    receiver:join()
    tap.is(waited[1], 5, "a receive that waited gets the bytes")
    tap.is(waited[3] and waited[3].pid, my_pid, "the receive gets the sender's credentials too")

    -- Without the option, receives return what Emilua's do, and the flags.
    local c, d = unix.datagram_socket.pair()
    c:send("plain")
    local plain = table.pack(d:receive(buf))
    tap.is(plain.n, 2, "without pass_credentials receive returns the count and the flags only")

    -- Descriptors sent to a plain receive are reported, not lost silently.
    local file = io.tmpfile()
    local fd = file_descriptor.from_file(file)
    c:send_with_fds("fd", {fd})
    local _, flags = d:receive(buf)
    tap.ok(flags & 8 ~= 0,
        "a plain receive of a datagram with descriptors reports control truncation")
    fd:close()
    file:close()

    -- pass_pidfd and peer_pidfd.
    tap.is(b:get_option("pass_pidfd"), false, "pass_pidfd is off at first")
    local supported, err = pcall(b.set_option, b, "pass_pidfd", true)
    if not supported then
        tap.is(err.name, "ENOPROTOOPT", "pass_pidfd on an old kernel raises ENOPROTOOPT")
    else
        tap.is(b:get_option("pass_pidfd"), true, "pass_pidfd can be set")
        a:send("pidfd")
        local n, flags2, who, pidfd = b:receive(buf)
        tap.is(n, 5, "with pass_pidfd a receive gets the bytes")
        tap.is(flags2, 0, "the receive reports no flags")
        tap.is(who and who.pid, my_pid, "the receive gets the sender's credentials too")
        tap.is(getmetatable(pidfd), "file_descriptor", "the sender's pidfd comes last")
        tap.is(pid_of(pidfd), my_pid, "the sender's pidfd names this process")
        pidfd:close()
        b:set_option("pass_credentials", false)
        a:send("pidfd only")
        local results = table.pack(b:receive_from_with_fds(buf, 1))
        tap.is(results.n, 6, "receive_from_with_fds with pass_pidfd alone returns six values")
        tap.is(results[5], nil, "credentials nil when only the pidfd came")
        tap.is(pid_of(results[6]), my_pid, "the pidfd names this process")
        results[6]:close()
        b:set_option("pass_credentials", true)
        b:set_option("pass_pidfd", false)

        local peer = a:get_option("peer_pidfd")
        tap.is(getmetatable(peer), "file_descriptor", "peer_pidfd of a pair is a file_descriptor")
        tap.is(pid_of(peer), my_pid, "peer_pidfd names this process")
        peer:close()
    end
    tap.raises({name = "EINVAL", arg = 2, message = "read only"}, "peer_pidfd is read only",
        a.set_option, a, "peer_pidfd", true)
    local lonely = unix.datagram_socket.new()
    lonely:open()
    local peerless_ok, peerless = pcall(lonely.get_option, lonely, "peer_pidfd")
    tap.ok(not peerless_ok and (peerless.name == "ENOTCONN" or peerless.name == "ENOPROTOOPT"),
        "peer_pidfd of an unconnected socket raises ENOTCONN (ENOPROTOOPT before Linux 6.5)")
    lonely:close()

    -- receive_many: each sender's identity into a table of its own.
    local spans = {byte_span.new(16), byte_span.new(16), byte_span.new(16)}
    local lengths, identities = {}, {}
    local with_pidfd = pcall(b.set_option, b, "pass_pidfd", true)
    a:send("one")
    a:send("two")
    local count, batch_flags = b:receive_many(spans, lengths, 0, identities)
    tap.is(count, 2, "receive_many with an identities table takes the queued datagrams")
    tap.is(batch_flags, 0, "with no flags")
    for i = 1, 2 do
        local who = identities[i]
        tap.is(type(who) == "table" and who.pid, my_pid,
            "receive_many reports datagram " .. i .. "'s sender pid")
        tap.is(type(who) == "table" and who.uid, my_uid, "and uid of datagram " .. i)
        if with_pidfd then
            tap.is(type(who) == "table" and pid_of(who.pidfd), my_pid,
                "and a pidfd naming the sender of datagram " .. i)
            who.pidfd:close()
        end
    end
    tap.is(identities[3], nil, "receive_many leaves the identities past the count alone")
    b:set_option("pass_credentials", false)
    if with_pidfd then b:set_option("pass_pidfd", false) end
    a:send("anonymous")
    identities = {}
    b:receive_many(spans, lengths, nil, identities)
    tap.is(identities[1], false, "without the options each identity is false")
    a:send("no table")
    tap.is(select("#", b:receive_many(spans, lengths)), 2,
        "receive_many without an identities table returns the count and flags only")
    tap.raises({name = "EINVAL", arg = 5}, "receive_many's identities must be a table",
        b.receive_many, b, spans, lengths, 0, "senders")
    b:set_option("pass_credentials", true)

    -- send_message: the general send.
    tap.is(a:send_message("general"), 7, "send_message with no options sends to the peer")
    local n = b:receive(buf)
    tap.is(tostring(buf:slice(1, n)), "general", "the datagram of send_message arrives")
    local server = unix.datagram_socket.new()
    server:open()
    local path = tap.socket_path("credentials-server")
    server:bind(path)
    server:set_option("pass_credentials", true)
    local client = unix.datagram_socket.new()
    client:open()
    local passed = file_descriptor.from_file(io.tmpfile())
    tap.is(client:send_message("to", {to = path, fds = {passed}}), 2,
        "send_message sends to a path with descriptors")
    local got, _, fds, _, who = server:receive_from_with_fds(buf, 2)
    tap.is(got, 2, "the datagram arrives")
    tap.is(#fds, 1, "the datagram brings its descriptor")
    tap.is(who and who.pid, my_pid, "the datagram brings the kernel's credentials")
    fds[1]:close()
    passed:close()

    client:send_message("as me", {to = path, credentials = {pid = my_pid, uid = my_uid, gid = my_gid}})
    local _, _, _, own = server:receive_from(buf)
    tap.is(own and own.pid, my_pid, "explicit credentials of this process arrive as sent")

    local foreign = {pid = parent_pid, uid = my_uid, gid = my_gid}
    local sent_ok, sent_err = pcall(client.send_message, client, "as parent",
        {to = path, credentials = foreign})
    if my_uid == 0 then
        tap.ok(sent_ok, "as root, another process's pid may be sent")
        local _, _, _, other = server:receive_from(buf)
        tap.is(other and other.pid, parent_pid, "the foreign pid arrives as sent")
    else
        tap.is(sent_err and sent_err.name, "EPERM",
            "without CAP_SYS_ADMIN another process's pid gives EPERM")
        tap.is(client:send_message("still", {to = path}), 5, "the socket stays usable")
        server:receive(buf)
    end

    tap.raises({name = "EINVAL", arg = 3}, "send_message options must be a table",
        client.send_message, client, "x", 5)
    tap.raises({name = "EINVAL", arg = 3, message = "credentials"},
        "credentials must be a table", client.send_message, client, "x", {to = path, credentials = 1})
    tap.raises({name = "EINVAL", arg = 3, message = "pid"}, "credentials need a pid",
        client.send_message, client, "x", {to = path, credentials = {uid = 0, gid = 0}})
    tap.raises({name = "EINVAL", message = "message flag"}, "send_message checks its flags",
        client.send_message, client, "x", {to = path, flags = 1})

    a:close(); b:close(); c:close(); d:close(); server:close(); client:close()
    os.remove(tostring(path))
end

scenarios()
collectgarbage()
collectgarbage()
tap.is(tap.fd_count(), before, "no descriptor is left open")
tap.done()
