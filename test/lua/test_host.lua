-- The unixdgram-lua host: exit status, error reports, globals and arg.
local tap = require "tap"

local host = os.getenv("UNIXDGRAM_LUA_HOST")
if not host then
    print("1..0 # SKIP UNIXDGRAM_LUA_HOST is not set")
    return
end

-- Runs the host on a script; returns its exit status and its output (stdout
-- and stderr together).
local counter = 0
local function run_script(source, args, stdin)
    counter = counter + 1
    local path = tap.socket_path("script" .. counter .. ".lua")
    local file = assert(io.open(path, "w"))
    file:write(source)
    file:close()
    local command
    if stdin then
        command = string.format("'%s' - %s < '%s' 2>&1; echo \"status=$?\"", host, args or "", path)
    else
        command = string.format("'%s' '%s' %s 2>&1; echo \"status=$?\"", host, path, args or "")
    end
    local pipe = assert(io.popen(command))
    local output = pipe:read("a")
    pipe:close()
    local status = tonumber(output:match("status=(%d+)%s*$"))
    return status, output:gsub("status=%d+%s*$", "")
end

-- Checks that `text` has nothing matching `pattern`: under ASan a memory
-- error shows in the output.
local function lacks(text, pattern, name)
    return tap.ok(not text:find(pattern), name, text)
end

local status, output = run_script([[
assert(type(unix.datagram_socket.new) == "function")
assert(type(byte_span.new) == "function")
assert(type(filesystem.path.new) == "function")
assert(type(file_descriptor.from_file) == "function")
assert(type(spawn) == "function" and type(sleep) == "function")
assert(run == nil)
print(arg[0] ~= nil, arg[1], arg[2], select("#", ...), ...)
]], "one two")
tap.is(status, 0, "a script that succeeds exits 0")
tap.like(output, "true\tone\ttwo\t2\tone\ttwo", "the script sees arg and ... set, and the globals")

status, output = run_script([[
local f = spawn(function() sleep(0.01); print("fiber done") end)
print("main done")
]])
tap.is(status, 0, "the host waits for every fiber")
tap.like(output, "main done\nfiber done", "even after the main fiber ends")

status, output = run_script([[
local function inner() error("boom") end
inner()
]])
tap.is(status, 1, "an uncaught error exits 1")
tap.like(output, "boom", "the host prints the error message")
tap.like(output, "stack traceback:", "the host prints a traceback")
tap.like(output, "in [%a ]*'inner'", "the traceback names the function")

status, output = run_script([[
unix.datagram_socket.new():send("x")
]])
tap.is(status, 1, "an uncaught error object exits 1")
tap.like(output, "Bad file descriptor", "the host prints the error object's message")
tap.like(output, "stack traceback:", "the host prints a traceback")

status, output = run_script([[
spawn(function() error("in a fiber") end)
sleep(0.01)
]])
tap.is(status, 1, "an error in a fiber nobody joins exits 1")
tap.like(output, "uncaught error in fiber: .*in a fiber", "reported as uncaught")

-- Emilua 0.4's fibers, as its scripts use them.
status, output = run_script([[
local f = spawn(function() sleep(1000) end)
sleep(0.01)
f:interrupt()
sleep(0.01)
print("main done")
]])
tap.is(status, 0, "an interrupted fiber nobody joins exits 0, as in Emilua")
tap.is(output, "main done\n", "the host says nothing of an interrupted fiber nobody joins")

status, output = run_script([[
local f = spawn(function() sleep(1000) end)
sleep(0.01)
f:interrupt()
f:join()
print(f.interruption_caught, f.joinable)
]])
tap.is(status, 0, "fib:interrupt(); fib:join() exits 0")
tap.is(output, "true\tfalse\n", "interruption_caught is true and the handle spent")

status, output = run_script([[
spawn(function() error("detached failure") end):detach()
sleep(0.01)
]])
tap.is(status, 1, "a detached fiber that fails exits 1")
tap.like(output, "uncaught error in fiber: .*detached failure", "its error reported")

status, output = run_script([[
print(this_fiber.is_main, type(this_fiber.id))
print(spawn(function() return this_fiber.is_main end):join())
this_fiber.forbid_suspend()
sleep(0)
]])
tap.is(status, 1, "a blocking call inside forbid_suspend() in the main fiber exits 1")
tap.like(output, "^true\tstring\nfalse\n", "this_fiber is a global: is_main in the main fiber only")
tap.like(output, "forbid_suspend", "the error names forbid_suspend")

status, output = run_script([[
local f
f = spawn(function() f:join() end)
]])
tap.is(status, 1, "a fiber joining itself fails")
tap.like(output, "uncaught error in fiber: Resource deadlock avoided", "the failure is EDEADLK")

status, output = run_script([[
local f = spawn(function() error("joined") end)
pcall(f.join, f)
]])
tap.is(status, 0, "an error caught through join does not count")

status, output = run_script([[
spawn(function() sleep(1000) end)
error("main fails")
]])
tap.is(status, 1, "the main fiber's failure ends the program at once")
tap.like(output, "main fails", "the host prints the main fiber's message")
lacks(output, "AddressSanitizer",
    "lua_close still releases the waits of anchored fibers (their __gc is not a script's)")

status, output = run_script([[
local fibers = {}
fibers[1] = spawn(function() sleep(0); fibers[2]:join() end)
fibers[2] = spawn(function() sleep(0); fibers[1]:join() end)
]])
tap.is(status, 1, "fibers that can never finish exit 1")
tap.like(output, "2 fiber%(s%) never finished", "reported")

status, output = run_script([[
spawn(function()
    sleep(0.01) -- the main fiber has finished; nothing refers to it any more
    collectgarbage()
    collectgarbage()
end)
]])
tap.is(status, 0, "the main fiber collected while others run: exit 0")
lacks(output, "AddressSanitizer", "the report reads nothing freed")

status, output = run_script([[
local collecting = setmetatable({}, {__tostring = function()
    collectgarbage()
    collectgarbage()
    return "collected while reported"
end})
spawn(function() error(collecting) end)
]])
tap.is(status, 1, "a failure whose __tostring runs the collector exits 1")
tap.like(output, "uncaught error in fiber: collected while reported\nstack traceback:",
    "the host prints the message and traceback")
lacks(output, "AddressSanitizer", "the failed fiber stays alive while it is reported")

status, output = run_script([[
error(setmetatable({}, {__tostring = function()
    collectgarbage()
    collectgarbage()
    return "main collected while reported"
end}))
]])
tap.is(status, 1, "so does the main fiber's")
tap.like(output, "main collected while reported\nstack traceback:", "reported")
lacks(output, "AddressSanitizer", "reading nothing freed")

status, output = run_script([[
error(setmetatable({}, {__tostring = function() error({}) end}))
]])
tap.is(status, 1, "an error whose __tostring raises a table exits 1")
tap.like(output, "error object is a table value", "the host says what it could not print")
lacks(output, "%(null%)", "the host prints no null string")

status, output = run_script("print('from stdin', ...)", "x", true)
tap.is(status, 0, "'-' reads the script from standard input")
tap.like(output, "from stdin\tx", "the script from standard input gets its arguments")

status, output = run_script("this is not lua")
tap.is(status, 1, "a syntax error exits 1")
tap.like(output, "syntax error", "the host prints the parser's message")

local pipe = assert(io.popen("'" .. host .. "' 2>&1; echo \"status=$?\""))
output = pipe:read("a")
pipe:close()
tap.like(output, "usage: .*SCRIPT", "the host without a script prints a usage message")
tap.like(output, "status=2", "the host without a script exits with status 2")

tap.done()
