-- A key-value store served over a named datagram socket, written the way an
-- Emilua 0.4 program is: its require lines, paths built with `/`, requests
-- parsed in a byte_span with find, and the server fiber stopped with
-- interrupt() and join(). It runs unchanged under Emilua 0.4 and under
-- unixdgram-lua. Under stock lua5.4, the module gives the same names:
--   lua5.4 -e 'for k, v in pairs(require "unixdgram") do _G[k] = v end' emilua_port.lua
local unix = require 'unix'
local filesystem = require 'filesystem'
local sleep = require('time').sleep
local generic_error = require 'generic_error'

local dir = filesystem.temp_directory_path() /
    string.format('kv-%08x', math.random(0, 0x7fffffff))
filesystem.create_directory(dir)
local server_path = dir / 'server.socket'

local store = {}

-- "SET key=value" or "GET key"; the reply is a string.
local function handle(request)
    local space = request:find(' ')
    if not space then
        return 'ERR no argument'
    end
    local command = tostring(request:slice(1, space - 1))
    local argument = request:slice(space + 1)
    if command == 'SET' then
        local equals = argument:find('=')
        if not equals then
            return 'ERR SET takes key=value'
        end
        store[tostring(argument:slice(1, equals - 1))] = tostring(argument:slice(equals + 1))
        return 'OK'
    elseif command == 'GET' then
        local value = store[tostring(argument)]
        return value and 'VALUE ' .. value or 'ERR no such key'
    end
    return 'ERR unknown command ' .. command
end

local server_socket = unix.datagram_socket.new()
server_socket:open()
server_socket:bind(server_path)

local server = spawn(function()
    local request = byte_span.new(512)
    while true do
        local nread, sender = server_socket:receive_from(request)
        local reply = handle(request:slice(1, nread):trimmed())
        server_socket:send_to(byte_span.append(reply), sender)
    end
end)

local client = unix.datagram_socket.new()
client:open()
client:bind(dir / 'client.socket')
local reply = byte_span.new(512)

local function ask(text)
    client:send_to(byte_span.append(text), server_path)
    local nread = client:receive(reply)
    return tostring(reply:slice(1, nread))
end

print(ask('SET greeting=hello'))
print(ask('GET greeting'))
print(ask('GET nothing'))
print(ask('  GET greeting  '))
print(ask('PUT x'))

-- Nobody is bound at this path: a system error, compared the Emilua way.
local ok, err = pcall(function()
    client:send_to(byte_span.append('x'), dir / 'nobody.socket')
end)
print('send to nobody:', ok, err:togeneric() == generic_error.ENOENT)

sleep(0.01)
server:interrupt()
server:join()
print('server stopped, interruption caught:', server.interruption_caught)

client:close()
server_socket:close()
filesystem.remove_all(dir)
