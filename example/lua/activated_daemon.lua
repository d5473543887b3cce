-- activated_daemon.lua — a socket-activated datagram daemon in Lua.
--
-- Started by a service manager with its socket already open, e.g.
--
--   systemd-socket-activate --datagram -l /tmp/daemon.sock --fdname=requests \
--       -E NOTIFY_SOCKET=@my-manager unixdgram-lua example/lua/activated_daemon.lua
--
-- it takes its socket with listen_fds, tells the manager READY=1 and a
-- STATUS, hands it a descriptor to keep (FDSTORE=1, FDNAME=daemon-state),
-- then answers each request with "echo: <request>", logging on stderr the
-- pid the kernel vouches for as the sender's. "quit" ends it: it says
-- STOPPING=1 and waits, with a barrier, until the manager has read that.
--
-- Without a manager (no NOTIFY_SOCKET) the notifications do nothing; without
-- LISTEN_FDS it says so and exits with status 2.
local ud = require "unixdgram"
local systemd = require "unixdgram.systemd"

-- Unset, so that a program this daemon starts does not take them for its own.
local fds, names = systemd.listen_fds(true)
if #fds == 0 then
    io.stderr:write("activated_daemon.lua: no socket passed (LISTEN_FDS); run me under ",
        "systemd-socket-activate --datagram\n")
    os.exit(2)
end
-- It serves the first socket; the others, if any, are closed.
local requests = ud.unix.datagram_socket.new(fds[1])
for i = 2, #fds do
    fds[i]:close()
end
-- Every datagram then carries its sender's pid, uid and gid, which the
-- kernel checks (SCM_CREDENTIALS). Those queued before, such as the one that
-- made systemd-socket-activate start the daemon, come without: the kernel
-- records a sender only when someone asked for it at send time (a systemd
-- socket unit can, with PassCredentials=yes; systemd-socket-activate cannot).
requests:set_option("pass_credentials", true)
-- And, on Linux 6.5 and later, a pidfd of its sender: the identity systemd
-- itself trusts, since a pid can be reused once its process is gone and a
-- pidfd cannot.
local with_pidfds = pcall(requests.set_option, requests, "pass_pidfd", true)

-- The pid a pidfd names, as /proc/self/fdinfo reports it (0 or -1 once that
-- process has exited, so it never names another one).
local function pid_of(pidfd)
    local number = tostring(pidfd):match("^/dev/fd/(%d+)$")
    local info = number and io.open("/proc/self/fdinfo/" .. number)
    if not info then
        return nil
    end
    local pid = info:read("a"):match("\nPid:%s+(%-?%d+)")
    info:close()
    return pid
end

systemd.notify("READY=1\nSTATUS=waiting for requests on '" .. names[1] .. "'")

-- A file to get back after a restart: the manager keeps a copy.
local state = io.tmpfile()
state:write("state kept by activated_daemon.lua\n")
state:flush()
local state_fd = ud.file_descriptor.from_file(state)
systemd.notify("FDSTORE=1\nFDNAME=daemon-state", {state_fd})
state_fd:close()

local buffer = ud.byte_span.new(4096)
local served = 0
while true do
    -- Descriptors a client sends along are not wanted: the one the receive
    -- may take is closed at once.
    local n, sender, passed, flags, credentials, pidfd = requests:receive_from_with_fds(buffer, 1)
    for _, fd in ipairs(passed) do
        fd:close()
    end
    local request = tostring(buffer:slice(1, n))
    local pid = credentials and credentials.pid or "unknown"
    local identity = ""
    if pidfd then
        identity = string.format(", pidfd %s naming pid %s", tostring(pidfd), pid_of(pidfd))
        pidfd:close()
    elseif with_pidfds then
        identity = ", no pidfd"
    end
    io.stderr:write(string.format("activated_daemon.lua: request %q from pid %s%s\n", request,
        tostring(pid), identity))
    if request == "quit" then
        break
    end
    served = served + 1
    -- A request longer than the buffer is refused rather than answered cut short.
    local reply = "echo: " .. request
    if flags & ud.unix.message_flag.truncated ~= 0 then
        reply = "error: requests are at most " .. #buffer .. " bytes"
    end
    if tostring(sender) ~= "" then
        requests:send_to(reply, sender)
    end
    systemd.notify("STATUS=served " .. served .. " request(s)")
end

systemd.notify("STOPPING=1")
systemd.notify_barrier()
