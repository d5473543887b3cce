-- notify_receiver.lua ADDRESS — the manager's side of sd_notify, for trying
-- a service out: binds ADDRESS (a path, or @name for an abstract name, as
-- NOTIFY_SOCKET writes it), prints each notification with its sender's pid
-- and the kinds of the descriptors it carries, shows a stored file's
-- contents, and passes barriers by closing their pipe. It exits after the
-- barrier that follows STOPPING=1.
local ud = require "unixdgram"
local systemd = require "unixdgram.systemd"

local address = assert(arg[1], "usage: notify_receiver.lua ADDRESS")
local manager = ud.unix.datagram_socket.new()
manager:open()
manager:bind(systemd.parse_address(address))
manager:set_option("pass_credentials", true)
print("manager: listening on " .. address)
io.stdout:flush()

local buffer = ud.byte_span.new(4096)
local stopping = false
while true do
    local n, fds, flags, credentials = manager:receive_with_fds(buffer, 16)
    local state = tostring(buffer:slice(1, n))
    local kinds = {}
    for i, fd in ipairs(fds) do
        kinds[i] = fd:kind()
    end
    print(string.format("manager: from pid %d: %s%s", credentials.pid,
        state:gsub("\n", " | "), #fds > 0 and " [with " .. table.concat(kinds, ", ") .. "]" or ""))
    local barrier = state:find("BARRIER=1", 1, true) ~= nil
    for _, fd in ipairs(fds) do
        local kind = fd:kind()
        if not barrier and (kind == "file" or kind == "memfd") then
            -- The sender left the offset where it stopped writing.
            local file = fd:to_file("r")
            file:seek("set")
            print("manager:   stored file holds: " .. file:read("a"):gsub("\n$", ""))
            file:close()
        else
            fd:close() -- a barrier is passed when its pipe closes
        end
    end
    io.stdout:flush()
    stopping = stopping or state:find("STOPPING=1", 1, true) ~= nil
    if barrier and stopping then
        break
    end
end
