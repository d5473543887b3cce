-- A server and its clients over named sockets, in one script: each runs in a
-- fiber; the server answers every request to whoever sent it.
--
--   unixdgram-lua example/lua/request_reply.lua

if not unix then
    -- Run by stock lua5.4: take the names from the module.
    local ud = require "unixdgram"
    unix, byte_span, filesystem, file_descriptor, spawn, sleep =
        ud.unix, ud.byte_span, ud.filesystem, ud.file_descriptor, ud.spawn, ud.sleep
end

local directory = os.tmpname()
os.remove(directory)
assert(os.execute("mkdir -m 700 '" .. directory .. "'"))
local server_path = filesystem.path.new(directory .. "/server")

local server = unix.datagram_socket.new()
server:open()
server:bind(server_path)

local server_fiber = spawn(function()
    local request = byte_span.new(256)
    while true do
        local n, client_path = server:receive_from(request)
        local text = tostring(request:slice(1, n))
        if text == "quit" then
            return
        end
        print(string.format("server: %q from %s", text, tostring(client_path)))
        server:send_to(string.upper(text), client_path)
    end
end)

local function client(name, questions)
    local sock = unix.datagram_socket.new()
    sock:open()
    sock:bind(filesystem.path.new(directory .. "/" .. name))
    sock:connect(server_path)
    local reply = byte_span.new(256)
    for _, question in ipairs(questions) do
        sock:send(question)
        local n = sock:receive(reply)
        print(string.format("%s: asked %q, got %q", name, question, tostring(reply:slice(1, n))))
    end
    sock:close()
end

local alice = spawn(client, "alice", {"hello", "how are you?"})
local bob = spawn(client, "bob", {"ping", "bye"})
alice:join()
bob:join()

local stopper = unix.datagram_socket.new()
stopper:open()
stopper:send_to("quit", server_path)
server_fiber:join()
server:close()
os.execute("rm -rf '" .. directory .. "'")
print("done")
