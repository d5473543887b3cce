-- unixdgram.systemd and the descriptor helpers against real programs:
-- systemd-socket-activate (starting example/lua/activated_daemon.lua), socat
-- and python3 (which makes memfds, pidfds and eventfds, as Lua cannot), and
-- children of this test, run with the same interpreter, for what needs an
-- environment Lua cannot set (NOTIFY_SOCKET, LISTEN_*) or an inherited
-- descriptor number.
--
-- This process's NOTIFY_SOCKET and LISTEN_* are never used: children get
-- theirs from env(1). Sockets live in a private directory or under abstract
-- names holding this process's pid.
local tap = require "tap"
local ud = require "unixdgram"
local systemd = require "unixdgram.systemd"
local unix, byte_span, filesystem, file_descriptor, spawn =
    ud.unix, ud.byte_span, ud.filesystem, ud.file_descriptor, ud.spawn

local function shell_quote(text)
    return "'" .. text:gsub("'", "'\\''") .. "'"
end

local function own_pid()
    local stat = assert(io.open("/proc/self/stat"))
    local pid = stat:read("n")
    stat:close()
    return pid
end
local pid = own_pid()

-- Children run with this test's interpreter: the host, or lua5.4 with the
-- module (LUA_CPATH, and the sanitizer runtimes in LD_PRELOAD, inherited).
local interpreter = shell_quote(arg[-1])
local directory = tap.socket_path("")

local function write_file(name, text)
    local path = directory .. name
    local file = assert(io.open(path, "w"))
    file:write(text)
    file:close()
    return path
end

-- The child's modes; each prints one line of results.
local child_script = write_file("child.lua", [[
local ud = require "unixdgram"
local systemd = require "unixdgram.systemd"
local mode = ...
-- Under meson test --setup gc_stress, the child's collector is as eager as
-- tap.collect_at_every_check makes the test's.
if (os.getenv("UNIXDGRAM_LUA_GC_STRESS") or "0") ~= "0" then
    collectgarbage("incremental", 1, 100, 63)
    collectgarbage()
end
local function pid()
    local stat = assert(io.open("/proc/self/stat"))
    local value = stat:read("n")
    stat:close()
    return value
end
local function cloexec(fd)
    local number = tonumber(tostring(fd):match("%d+$"))
    local info = assert(io.open("/proc/self/fdinfo/" .. number))
    local flags = info:read("a"):match("flags:%s*(%d+)")
    info:close()
    return tonumber(flags, 8) & tonumber("2000000", 8) ~= 0
end
local function try(f, ...)
    local ok, result = pcall(f, ...)
    if ok then
        return tostring(result)
    end
    return type(result) == "table" and result.name or tostring(result)
end
if mode == "notify" then
    local file = io.tmpfile()
    file:write("kept by the manager")
    file:flush()
    local fd = ud.file_descriptor.from_file(file)
    local sent = systemd.notify("READY=1\nSTATUS=child " .. pid(), {fd})
    local kept = tostring(fd) ~= "file_descriptor (closed)"
    local unset_sent = systemd.notify("STATUS=unsetting", nil, true)
    print(sent, kept, unset_sent, os.getenv("NOTIFY_SOCKET"), systemd.notify("STATUS=gone"),
        systemd.notify_barrier())
elseif mode == "fails" then
    print(try(systemd.notify, "READY=1"), try(systemd.notify_barrier, 1))
elseif mode == "flood" then
    -- The manager reads nothing: its queue fills.
    local sent = 0
    while sent < 100000 do
        local ok, err = pcall(systemd.notify, "STATUS=flood")
        if not ok then
            print(sent > 0, type(err) == "table" and err.name or tostring(err))
            return
        end
        sent = sent + 1
    end
    print("never full")
elseif mode == "barrier" then
    local ticker_path, how = select(2, ...)
    local done = false
    local ticks = 0
    local ticker = ud.spawn(function()
        -- One datagram, which the test reads while the barrier waits: more
        -- could fill the test's queue, and a send waiting for room would
        -- keep this child from ever ending.
        local sock = ud.unix.datagram_socket.new()
        sock:open()
        sock:send_to("tick " .. pid(), ticker_path)
        while not done do
            ticks = ticks + 1
            collectgarbage() -- the waiting barrier's objects must survive it
            ud.sleep(0.02)
        end
    end)
    local result
    if how == "coroutine" then
        -- Not a fiber: the call runs the loop itself until the barrier is passed.
        result = coroutine.wrap(function()
            return try(systemd.notify_barrier, 20)
        end)()
    else
        result = try(systemd.notify_barrier, 20)
    end
    done = true
    ticker:join()
    print("barrier", result, ticks > 0)
elseif mode == "barrier abandoned" then
    -- The script ends while a fiber waits: the host runs the loop until the
    -- barrier is passed; lua5.4 closes the state with the wait pending.
    ud.spawn(systemd.notify_barrier, 20)
    ud.sleep(0.05)
    print("abandoned")
    io.stdout:flush()
elseif mode == "barrier timeout" then
    print("barrier", try(systemd.notify_barrier, 0.2))
elseif mode == "barrier interrupted" then
    local waiter = ud.spawn(systemd.notify_barrier, 20)
    ud.sleep(0.1)
    waiter:interrupt()
    -- As in Emilua, joining an interrupted fiber returns nothing and sets
    -- interruption_caught; a barrier that ran to its timeout would raise.
    print("barrier", try(function()
        waiter:join()
        return waiter.interruption_caught and "interrupted" or "not interrupted"
    end))
elseif mode == "listen" then
    local unset = select(2, ...) == "unset"
    local ok, fds, names = pcall(systemd.listen_fds, unset)
    if not ok then
        print("error", fds.name)
        return
    end
    local parts = {#fds}
    for i, fd in ipairs(fds) do
        parts[#parts + 1] = names[i] .. "=" .. fd:kind() .. (cloexec(fd) and "+cloexec" or "")
    end
    if fds[1] and fds[1]:kind() == "file" then
        parts[#parts + 1] = fds[1]:to_file("r"):read("a")
    end
    parts[#parts + 1] = tostring(os.getenv("LISTEN_FDS"))
    print(table.concat(parts, " "))
elseif mode == "adopt" then
    local fd = ud.file_descriptor.adopt(3)
    local kind, flag = fd:kind(), cloexec(fd)
    local text = fd:dup():to_file("r"):read("a")
    fd:close()
    print(kind, flag, text, try(ud.file_descriptor.adopt, 3))
end
]])

-- Runs the child in `mode` with `environment` (NAME=value words for env(1))
-- and returns its line of output.
local function run_child(environment, mode, ...)
    local words = {"env -u NOTIFY_SOCKET -u LISTEN_PID -u LISTEN_FDS -u LISTEN_FDNAMES",
        environment, interpreter, shell_quote(child_script), shell_quote(mode)}
    for _, word in ipairs({...}) do
        words[#words + 1] = shell_quote(word)
    end
    return table.concat(words, " ")
end

local function child_output(command)
    local child = assert(io.popen(command, "r"))
    local line = child:read("a")
    local ok = child:close()
    return (line:gsub("\n$", "")), ok
end

-- Runs `fn` in a fiber that a watchdog interrupts after `seconds`: a peer
-- that never sends must fail the test, not hang it.
local function within(seconds, fn, ...)
    local worker = spawn(fn, ...)
    local watchdog = spawn(function()
        ud.sleep(seconds)
        worker:interrupt()
    end)
    local results = table.pack(pcall(worker.join, worker))
    watchdog:interrupt()
    pcall(watchdog.join, watchdog)
    if not results[1] then
        error(results[2], 0)
    end
    return table.unpack(results, 2, results.n)
end

-- A manager: a socket at an abstract name, with credentials on.
local function manager(tag)
    local name = "@unixdgram-lua-test-" .. pid .. "-" .. tag
    local sock = unix.datagram_socket.new()
    sock:open()
    sock:bind(systemd.parse_address(name))
    sock:set_option("pass_credentials", true)
    return sock, name
end

-- The next notification: payload, descriptors, credentials.
local function receive_notification(sock)
    local buffer = byte_span.new(4096)
    local n, fds, flags, credentials = sock:receive_with_fds(buffer, 8)
    return tostring(buffer:slice(1, n)), fds, credentials, flags
end

tap.ok(systemd == ud.systemd and require "unixdgram.systemd" == systemd,
    'require "unixdgram.systemd" is the module\'s systemd table')

-- Addresses ------------------------------------------------------------------

do
    local abstract = systemd.parse_address("@unixdgram")
    tap.is(debug.getmetatable(abstract).__name, "filesystem.path",
        "parse_address gives a filesystem.path")
    tap.is(tostring(abstract), "\0unixdgram", "parse_address makes @name an abstract name")
    tap.is(tostring(systemd.parse_address("/run/x.sock")), "/run/x.sock",
        "parse_address keeps a path")
    tap.is(tostring(systemd.parse_address("relative@")), "relative@",
        "parse_address keeps a relative path")
    tap.raises({name = "EINVAL"}, "parse_address refuses an empty address", systemd.parse_address,
        "")
    tap.raises({name = "EINVAL"}, "parse_address refuses a bare @", systemd.parse_address, "@")
    tap.is(#tostring(systemd.parse_address("@" .. string.rep("a", 107))), 108,
        "parse_address takes an abstract name of 107 bytes, filling sun_path")
    tap.raises({name = "ENAMETOOLONG"}, "parse_address refuses an abstract name of 108 bytes",
        systemd.parse_address, "@" .. string.rep("a", 108))
    tap.raises({arg = 1}, "parse_address takes only strings", systemd.parse_address, 7)
    tap.is(systemd.format_address("\0a\0b"), "@a\0b", "format_address writes @name, NULs kept")
    tap.is(systemd.format_address(filesystem.path.new("/run/x.sock")), "/run/x.sock",
        "format_address writes a path as it is")
    tap.is(systemd.format_address(abstract), "@unixdgram",
        "format_address inverts parse_address for an abstract name")

    -- socat names the same socket with its own abstract syntax.
    local sock, name = manager("socat")
    local sent = os.execute("printf 'from socat' | socat -u - ABSTRACT-SENDTO:" ..
        shell_quote(name:sub(2)))
    if sent then
        local payload = within(10, receive_notification, sock)
        tap.is(payload, "from socat", "socat's ABSTRACT-SENDTO reaches a socket bound at @name")
    else
        tap.ok(false, "socat's ABSTRACT-SENDTO reaches a socket bound at @name",
            "socat failed (scripts/test installs it)")
    end
    sock:close()
end

-- notify ---------------------------------------------------------------------

do
    local sock, name = manager("notify")
    local line = child_output(run_child("NOTIFY_SOCKET=" .. shell_quote(name), "notify"))
    tap.is(line, "true\ttrue\ttrue\tnil\tfalse\tfalse",
        "notify sends, keeps the caller's descriptors, unsets when asked, then does nothing")
    local payload, fds, credentials = within(10, receive_notification, sock)
    local child_pid = tonumber(payload:match("child (%d+)"))
    tap.is(payload, "READY=1\nSTATUS=child " .. tostring(child_pid),
        "the manager gets the state as it was given")
    tap.ok(credentials and credentials.pid == child_pid,
        "the notification comes with the kernel's credentials of the child",
        credentials and credentials.pid)
    tap.is(#fds, 1, "the notification brings the descriptor")
    if fds[1] then
        local file = fds[1]:to_file("r")
        file:seek("set")
        tap.is(file:read("a"), "kept by the manager", "the descriptor is the child's file")
        file:close()
    end
    tap.is((within(10, receive_notification, sock)), "STATUS=unsetting",
        "the notification that unsets still arrives")
    sock:close()

    tap.is(child_output(run_child("", "fails")), "false\tfalse",
        "without NOTIFY_SOCKET notify and notify_barrier return false")
    tap.is(child_output(run_child("NOTIFY_SOCKET=relative", "fails")), "EINVAL\tEINVAL",
        "a relative NOTIFY_SOCKET is refused, as libsystemd does")
    tap.is(child_output(run_child("NOTIFY_SOCKET=@unixdgram-lua-test-" .. pid .. "-nobody",
        "fails")), "ECONNREFUSED\tECONNREFUSED", "a NOTIFY_SOCKET nobody listens on is reported")

    local full, full_name = manager("full")
    tap.is(child_output(run_child("NOTIFY_SOCKET=" .. shell_quote(full_name), "flood")),
        "true\tEAGAIN", "notify does not wait for room in a full queue: it raises EAGAIN")
    full:close()

    local a, b = unix.datagram_socket.pair()
    local fd = a:release()
    local many = {}
    for i = 1, 254 do
        many[i] = fd
    end
    tap.raises({name = "too_many_fds", arg = 2}, "notify refuses more descriptors than fit",
        systemd.notify, "FDSTORE=1", many)
    tap.raises({arg = 2}, "notify refuses a table holding a non-descriptor", systemd.notify,
        "FDSTORE=1", {fd, 3})
    tap.raises({arg = 1}, "notify takes a string state", systemd.notify, 1)
    tap.raises({arg = 3}, "notify takes a boolean unset", systemd.notify, "x", nil, "yes")
    tap.raises({arg = 1}, "notify_barrier takes a number timeout", systemd.notify_barrier, "5")
    tap.raises({arg = 1}, "notify_barrier refuses a negative timeout", systemd.notify_barrier, -1)
    fd:close()
    tap.raises({arg = 2}, "notify refuses a closed descriptor", systemd.notify, "FDSTORE=1", {fd})
    b:close()
end

-- Barriers -------------------------------------------------------------------

do
    local sock, name = manager("barrier")
    local ticker = unix.datagram_socket.new()
    ticker:open()
    local ticker_path = tap.socket_path("ticker")
    ticker:bind(ticker_path)
    local child = assert(io.popen(run_child("NOTIFY_SOCKET=" .. shell_quote(name), "barrier",
        ticker_path), "r"))
    local payload, fds = within(20, receive_notification, sock)
    tap.is(payload, "BARRIER=1", "notify_barrier sends BARRIER=1")
    tap.ok(#fds == 1 and fds[1]:kind() == "pipe", "with one descriptor, a pipe's write end")
    -- While the barrier waits, the child's other fiber still runs.
    local tick = within(20, function()
        local buffer = byte_span.new(16)
        local n = ticker:receive(buffer)
        return tostring(buffer:slice(1, n))
    end)
    local child_pid = tonumber(tick:match("^tick (%d+)$"))
    tap.ok(child_pid, "another fiber of the child runs while its barrier waits", tick)
    -- Bytes in the pipe are not its closing: the barrier goes on.
    local writer = fds[1]:dup():to_file("w")
    writer:write("not a hang-up")
    writer:flush()
    writer:close()
    ud.sleep(0.2)
    local stat = io.open("/proc/" .. tostring(child_pid) .. "/stat")
    local child_state = stat and stat:read("a"):match("^%d+ %b() (%a)")
    if stat then
        stat:close()
    end
    tap.ok(child_state and child_state ~= "Z",
        "a barrier goes on when the manager writes into the pipe instead of closing it",
        child_state)
    for _, fd in ipairs(fds) do
        fd:close()
    end
    tap.like(child:read("a"), "^barrier\ttrue\ttrue",
        "the barrier returns true once the pipe closes")
    tap.ok(child:close(), "the child exits successfully")

    -- The same from a coroutine that is not a fiber, which drives the loop.
    child = assert(io.popen(run_child("NOTIFY_SOCKET=" .. shell_quote(name), "barrier",
        ticker_path, "coroutine"), "r"))
    payload, fds = within(20, receive_notification, sock)
    tick = within(20, function()
        local buffer = byte_span.new(16)
        local n = ticker:receive(buffer)
        return tostring(buffer:slice(1, n))
    end)
    tap.ok(payload == "BARRIER=1" and tick:find("^tick %d+$"),
        "a barrier outside a fiber runs the loop: the child's fiber still runs", payload)
    for _, fd in ipairs(fds) do
        fd:close()
    end
    tap.like(child:read("a"), "^barrier\ttrue\ttrue",
        "the barrier also returns true once the pipe closes")
    tap.ok(child:close(), "the child exits successfully")
    ticker:close()

    child = assert(io.popen(run_child("NOTIFY_SOCKET=" .. shell_quote(name),
        "barrier abandoned"), "r"))
    payload, fds = within(20, receive_notification, sock)
    local said = child:read("l")
    for _, fd in ipairs(fds) do
        fd:close()
    end
    tap.is(said, "abandoned", "a script may end while a fiber waits at a barrier")
    tap.ok(child:close(), "the child then exits successfully, the wait passed or abandoned")

    child = assert(io.popen(run_child("NOTIFY_SOCKET=" .. shell_quote(name), "barrier timeout"),
        "r"))
    payload, fds = within(20, receive_notification, sock)
    local line = child:read("a") -- the manager keeps the pipe open meanwhile
    for _, fd in ipairs(fds) do
        fd:close()
    end
    child:close()
    tap.is(line, "barrier\tETIMEDOUT\n", "a barrier the manager does not close times out")

    child = assert(io.popen(run_child("NOTIFY_SOCKET=" .. shell_quote(name),
        "barrier interrupted"), "r"))
    payload, fds = within(20, receive_notification, sock)
    line = child:read("a")
    for _, fd in ipairs(fds) do
        fd:close()
    end
    child:close()
    tap.is(line, "barrier\tinterrupted\n", "interrupt() ends a fiber's barrier")
    sock:close()
end

-- listen_fds and adopt --------------------------------------------------------

do
    local data = write_file("data", "inherited")
    local function activated(environment, mode, redirections)
        return string.format("env -u LISTEN_PID -u LISTEN_FDS -u LISTEN_FDNAMES %s sh -c %s %s",
            environment, shell_quote("LISTEN_PID=$$ exec " .. interpreter .. " " ..
                shell_quote(child_script) .. " " .. mode), redirections)
    end
    local inherit = "3<" .. shell_quote(data) .. " 4<" .. shell_quote(directory)
    tap.is(child_output(activated("LISTEN_FDS=2 LISTEN_FDNAMES=data:dir", "listen unset",
        inherit)), "2 data=file+cloexec dir=directory+cloexec inherited nil",
        "listen_fds takes LISTEN_FDS descriptors with their names, close-on-exec, and unsets")
    tap.is(child_output(activated("LISTEN_FDS=1", "listen", inherit)),
        "1 unknown=file+cloexec inherited 1",
        "without LISTEN_FDNAMES each is 'unknown'; without unset the variables stay")
    tap.is(child_output(string.format("env LISTEN_PID=1 LISTEN_FDS=1 %s %s listen 3<%s",
        interpreter, shell_quote(child_script), shell_quote(data))), "0 1",
        "descriptors meant for another pid are not taken")
    tap.is(child_output(activated("LISTEN_FDS=x", "listen", inherit)), "error\tEINVAL",
        "a LISTEN_FDS that is not a number is refused")
    tap.is(child_output(activated("LISTEN_FDS=1 LISTEN_FDNAMES=a:b", "listen", inherit)),
        "error\tEINVAL", "LISTEN_FDNAMES must name each descriptor")
    tap.is(child_output(activated("LISTEN_FDS=1", "listen", "3<&-")), "error\tEBADF",
        "a LISTEN_FDS descriptor that is not open is refused")

    tap.is(child_output(string.format("%s %s adopt 3<%s", interpreter, shell_quote(child_script),
        shell_quote(data))), "file\ttrue\tinherited\tEBADF",
        "adopt takes descriptor 3, close-on-exec; closed, it cannot be adopted again")
    tap.raises({name = "EBADF"}, "adopt refuses a number that is not open",
        file_descriptor.adopt, 1000000)
    tap.raises({arg = 1}, "adopt refuses a negative number", file_descriptor.adopt, -1)
    tap.raises({arg = 1}, "adopt refuses a fraction", file_descriptor.adopt, 3.5)
    tap.raises({arg = 1}, "adopt refuses a string", file_descriptor.adopt, "3")
end

-- Descriptor kinds, seals and memfd contents ---------------------------------------

do
    local a, b = unix.datagram_socket.pair()
    local socket_fd = a:release()
    tap.is(socket_fd:kind(), "socket", "a socket's kind is socket")
    socket_fd:close()
    b:close()
    local popened = io.popen("true")
    local pipe_fd = file_descriptor.from_file(popened)
    tap.is(pipe_fd:kind(), "pipe", "a pipe's kind is pipe")
    tap.raises({name = "EINVAL"}, "a pipe has no seals", pipe_fd.seals, pipe_fd)
    pipe_fd:close()
    popened:close()
    local kinds = {}
    for _, entry in ipairs({{io.tmpfile(), "file"}, {io.open("/dev/null"), "character device"},
            {io.open(directory), "directory"}}) do
        local fd = file_descriptor.from_file(entry[1])
        tap.is(fd:kind(), entry[2], "kind tells a " .. entry[2])
        fd:close()
        entry[1]:close()
    end
    local closed = file_descriptor.from_file(io.tmpfile())
    closed:close()
    tap.raises({arg = 1}, "kind refuses a closed descriptor", closed.kind, closed)

    -- python3 sends what Lua cannot make: a sealed memfd whose offset it
    -- leaves at the end (as libsystemd does with a large journal entry), a
    -- memfd without sealing, a pidfd and an eventfd.
    local python = "env -u LD_PRELOAD " .. (os.getenv("PYTHON3") or "python3")
    local receiver = unix.datagram_socket.new()
    receiver:open()
    local receiver_path = tap.socket_path("memfd")
    receiver:bind(receiver_path)
    local script = write_file("memfd.py", [[
import fcntl, os, socket, sys
sealed = os.memfd_create("journal-entry", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
os.write(sealed, b"MESSAGE=a large journal entry\n")
fcntl.fcntl(sealed, fcntl.F_ADD_SEALS,
            fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
plain = os.memfd_create("plain", os.MFD_CLOEXEC)
os.write(plain, b"plain")
pidfd = os.pidfd_open(os.getpid())
event = os.eventfd(0)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
socket.send_fds(s, [b"four"], [sealed, plain, pidfd, event])
]])
    local sent = os.execute(python .. " " .. shell_quote(script) .. " " ..
        shell_quote(receiver_path))
    if not sent then
        tap.ok(false, "python3 sends a memfd, a pidfd and an eventfd",
            "python3 failed (3.10 or later is needed)")
    else
        local n, fds = within(10, function()
            return receiver:receive_with_fds(byte_span.new(16), 8)
        end)
        tap.is(#fds, 4, "python3 sends a memfd, a pidfd and an eventfd")
        tap.is(fds[1]:kind(), "memfd", "a memfd's kind is memfd")
        local seals = fds[1]:seals()
        tap.ok(seals.seal and seals.shrink and seals.grow and seals.write and
            not seals.future_write and not seals.exec,
            "seals names the memfd's seals (seal, shrink, grow, write) and no others")
        tap.is(fds[2]:kind(), "memfd", "a memfd without sealing is a memfd too")
        local plain_seals = fds[2]:seals()
        tap.ok(plain_seals.seal and not plain_seals.write,
            "a memfd made without MFD_ALLOW_SEALING is sealed against sealing only")
        tap.is(fds[3]:kind(), "pidfd", "a pidfd's kind is pidfd")
        tap.is(fds[4]:kind(), "eventfd", "an eventfd's kind is eventfd")
        local file = fds[1]:to_file("r")
        tap.is(file:read("a"), "", "read from where the sender left the offset, a memfd is empty")
        tap.is(file:seek("set"), 0, "to_file's file can seek to offset 0")
        tap.is(file:read("a"), "MESSAGE=a large journal entry\n",
            "to_file's file reads the memfd's contents from there")
        file:close()
        for i = 2, 4 do
            fds[i]:close()
        end
    end
    receiver:close()
end

-- The Lua daemon under systemd-socket-activate ----------------------------------

local daemon = os.getenv("UNIXDGRAM_ACTIVATED_DAEMON")
if not os.execute("command -v systemd-socket-activate >/dev/null") or not daemon then
    tap.ok(false, "systemd-socket-activate starts the Lua daemon",
        "systemd-socket-activate (scripts/test installs it) or UNIXDGRAM_ACTIVATED_DAEMON " ..
        "(meson sets it) is missing")
else
    local sock, name = manager("activate")
    local service_path = tap.socket_path("daemon.sock")
    local environment = {"-E NOTIFY_SOCKET=" .. shell_quote(name)}
    for _, variable in ipairs({"LUA_PATH", "LUA_CPATH", "LD_PRELOAD"}) do
        if os.getenv(variable) then
            environment[#environment + 1] = "-E " .. variable
        end
    end
    local command = string.format(
        "systemd-socket-activate --datagram -l %s --fdname=requests %s %s %s 2>&1",
        shell_quote(service_path), table.concat(environment, " "), interpreter,
        shell_quote(daemon))
    local activator = assert(io.popen(command, "r"))
    local client = unix.datagram_socket.new()
    client:open()
    client:bind(tap.socket_path("client"))
    local ready = within(20, function()
        while not os.execute("test -S " .. shell_quote(service_path)) do
            ud.sleep(0.02)
        end
        return true
    end)
    tap.ok(ready, "systemd-socket-activate binds the daemon's socket")

    local function request(text)
        return within(20, function()
            client:send_to(text, service_path)
        end)
    end
    local function reply()
        return within(20, function()
            local buffer = byte_span.new(256)
            local n = client:receive(buffer)
            return tostring(buffer:slice(1, n))
        end)
    end
    -- The first datagram makes systemd-socket-activate exec the daemon.
    request("hello")
    local payload, fds, credentials = within(20, receive_notification, sock)
    tap.is(payload, "READY=1\nSTATUS=waiting for requests on 'requests'",
        "the daemon says READY and STATUS, naming its socket from LISTEN_FDNAMES")
    local daemon_pid = credentials and credentials.pid
    tap.ok(daemon_pid and daemon_pid ~= pid, "the notification comes with the daemon's credentials",
        daemon_pid)
    payload, fds, credentials = within(20, receive_notification, sock)
    tap.is(payload, "FDSTORE=1\nFDNAME=daemon-state", "the daemon stores a descriptor")
    tap.ok(#fds == 1 and fds[1]:kind() == "file", "a file, given along", #fds)
    if fds[1] then
        local file = fds[1]:to_file("r")
        file:seek("set")
        tap.is(file:read("a"), "state kept by activated_daemon.lua\n",
            "the stored descriptor holds the daemon's state")
        file:close()
    end
    tap.is(reply(), "echo: hello", "the daemon answers the request that started it")
    tap.is((within(20, receive_notification, sock)), "STATUS=served 1 request(s)",
        "the daemon updates its status after serving")
    request("second")
    tap.is(reply(), "echo: second", "the daemon answers a second request")
    tap.is((within(20, receive_notification, sock)), "STATUS=served 2 request(s)",
        "the daemon counts the request in its status")
    request(string.rep("x", 5000))
    tap.is(reply(), "error: requests are at most 4096 bytes",
        "the daemon refuses a request longer than its buffer instead of answering it cut short")
    tap.is((within(20, receive_notification, sock)), "STATUS=served 3 request(s)",
        "the daemon counts the request in its status")
    request("quit")
    tap.is((within(20, receive_notification, sock)), "STOPPING=1", "quit makes it say STOPPING=1")
    payload, fds = within(20, receive_notification, sock)
    tap.ok(payload == "BARRIER=1" and #fds == 1, "quit then waits at a barrier", payload)
    for _, fd in ipairs(fds) do
        fd:close()
    end
    local log = activator:read("a")
    tap.ok(activator:close(), "the daemon exits successfully once the barrier is passed", log)
    -- "hello" was queued before the daemon turned pass_credentials on: the
    -- kernel recorded no sender for it, and the receive gives no credentials.
    local probe = unix.datagram_socket.new()
    probe:open()
    local pidfds = pcall(probe.set_option, probe, "pass_pidfd", true)
    probe:close()
    tap.like(log, 'request "hello" from pid unknown' .. (pidfds and ", no pidfd" or "") .. "\n",
        "the daemon logs no pid (nor pidfd) for the request queued before it asked for them")
    for _, text in ipairs({"second", "quit"}) do
        local line = string.format("request %q from pid %d", text, pid)
        if pidfds then
            line = line .. string.format(", pidfd /dev/fd/%%d+ naming pid %d", pid)
        end
        tap.like(log, line:gsub("[%.%-]", "%%%0") .. "\n",
            "the daemon logs " .. text .. "'s sender pid, from its credentials" ..
            (pidfds and " and from its pidfd" or ""))
    end
    client:close()
    sock:close()
end

ud.run()
tap.done()
