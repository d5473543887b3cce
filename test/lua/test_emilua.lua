-- What a script written for Emilua 0.4 meets first: its modules, its error
-- objects, its receive results and its metatables. Facts from Emilua 0.4's
-- source; see README "Porting from Emilua".
local tap = require "tap"

-- Modules ----------------------------------------------------------------------

local hosted = rawget(_G, "spawn") ~= nil
if hosted then
    local ok, unix = pcall(require, "unix")
    tap.ok(ok and unix == rawget(_G, "unix"),
        "under the host, require 'unix' works on line 1 and gives the global unix")
else
    -- In a fresh interpreter: GC-stress mode has loaded the module in this one.
    local child = assert(io.popen("'" .. arg[-1] .. "' -e 'io.write(tostring(pcall(require, \"unix\")))'"))
    local output = child:read("a")
    child:close()
    tap.is(output, "false", "under lua5.4, require 'unix' needs require 'unixdgram' first")
end

local ud = require "unixdgram"
local unix = require "unix"
local filesystem = require "filesystem"
local sleep = require("time").sleep
local generic_error = require "generic_error"
local byte_span, file_descriptor, spawn = ud.byte_span, ud.file_descriptor, ud.spawn

tap.ok(unix == ud.unix and type(unix.datagram_socket.new) == "function",
    "require 'unix' gives the module's unix table")
tap.ok(filesystem == ud.filesystem and type(filesystem.path.new) == "function",
    "require 'filesystem' gives the module's filesystem table")
tap.ok(require("time") == ud.time and type(sleep) == "function", "require('time').sleep is there")
tap.lives("require('time').sleep sleeps", sleep, 0)
tap.ok(type(generic_error) == "userdata" and generic_error == ud.generic_error,
    "require 'generic_error' gives the generic_error module")
if not hosted then
    -- In a fresh interpreter, whose package.preload this test must not spoil.
    local script = [[package.preload.time = function() return "mine" end
        require "unixdgram"
        io.write(require "time", " ", require("unix") == require("unixdgram").unix and "ours" or "?")]]
    local child = assert(io.popen("'" .. arg[-1] .. "' -e '" .. script .. "'"))
    local output = child:read("a")
    child:close()
    tap.is(output, "mine ours", "a package.preload entry of the user's stays")
end

-- Error objects ------------------------------------------------------------------

local function raised(fn, ...)
    local ok, err = pcall(fn, ...)
    assert(not ok, "expected an error")
    return err
end

local arg_error = raised(byte_span.new, "x")
local a, b = unix.datagram_socket.pair()
local no_entry = raised(a.send_to, a, "x", "/nonexistent-unixdgram-dir/socket")

tap.ok(type(arg_error.category) == "userdata" and tostring(arg_error.category) == "generic",
    "an argument error's category is the generic category object")
tap.is(getmetatable(arg_error.category), "error_category",
    "a category's metatable is hidden as error_category")
tap.ok(type(no_entry.category) == "userdata" and tostring(no_entry.category) == "system"
    and no_entry.name == "ENOENT", "a system call's error is in the system category")
tap.ok(rawequal(arg_error.category, generic_error.EPERM.category)
    and arg_error.category == generic_error.EPERM.category,
    "errors of one category share its category object, which compares equal")
tap.ok(arg_error.category ~= no_entry.category, "the generic and system categories differ")
tap.is(arg_error.category.message(22), "Invalid argument",
    "category.message(code) is the code's message, as Emilua's source calls it")
tap.is(no_entry.category:message(2), "No such file or directory",
    "category:message(code) too, as Emilua's manual writes it")
tap.raises({name = "bad_index", index = 2}, "a category has no other field",
    function() return arg_error.category.name end)

tap.ok(arg_error == generic_error.EINVAL,
    "an error equals generic_error's of its code and category")
tap.ok(arg_error ~= generic_error.ERANGE, "an error differs from generic_error's of another code")
tap.ok(no_entry ~= generic_error.ENOENT, "a system error does not equal the generic one")
local generic = no_entry:togeneric()
tap.ok(generic == generic_error.ENOENT and tostring(generic.category) == "generic"
    and generic.code == no_entry.code, "togeneric() maps a system error to the generic category")
tap.ok(arg_error:togeneric() == arg_error, "togeneric() of a generic error is the same error")
local bad_index = raised(function() return a.nothing end)
tap.ok(bad_index:togeneric() == bad_index,
    "togeneric() of an error with no generic condition is the error itself")
tap.raises({name = "EINVAL", arg = 1}, "togeneric() of a table that is no error raises",
    arg_error.togeneric, {})

local einval = generic_error.EINVAL
tap.ok(einval.code == 22 and einval.name == "EINVAL" and tostring(einval) == "Invalid argument"
    and getmetatable(einval) == "error_code", "generic_error.EINVAL is an error object")
einval.arg = 1
tap.is(generic_error.EINVAL.arg, nil, "each generic_error access is a new error")
local names = {
    "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL", "EISCONN", "E2BIG", "EDOM", "EFAULT", "EBADF",
    "EBADMSG", "EPIPE", "ECONNABORTED", "EALREADY", "ECONNREFUSED", "ECONNRESET", "EXDEV",
    "EDESTADDRREQ", "EBUSY", "ENOTEMPTY", "ENOEXEC", "EEXIST", "EFBIG", "ENAMETOOLONG", "ENOSYS",
    "EHOSTUNREACH", "EIDRM", "EILSEQ", "ENOTTY", "EINTR", "EINVAL", "ESPIPE", "EIO", "EISDIR",
    "EMSGSIZE", "ENETDOWN", "ENETRESET", "ENETUNREACH", "ENOBUFS", "ECHILD", "ENOLINK", "ENOLCK",
    "ENOMSG", "ENOPROTOOPT", "ENOSPC", "ENXIO", "ENODEV", "ENOENT", "ESRCH", "ENOTDIR", "ENOTSOCK",
    "ENOTCONN", "ENOMEM", "ENOTSUP", "ECANCELED", "EINPROGRESS", "EPERM", "EOPNOTSUPP",
    "EWOULDBLOCK", "EOWNERDEAD", "EACCES", "EPROTO", "EPROTONOSUPPORT", "EROFS", "EDEADLK",
    "EAGAIN", "ERANGE", "ENOTRECOVERABLE", "ETXTBSY", "ETIMEDOUT", "ENFILE", "EMFILE", "EMLINK",
    "ELOOP", "EOVERFLOW", "EPROTOTYPE",
}
local wrong = {}
for _, name in ipairs(names) do
    local ok, err = pcall(function() return generic_error[name] end)
    if not (ok and math.type(err.code) == "integer" and err.code > 0
        and tostring(err.category) == "generic") then
        wrong[#wrong + 1] = name
    end
end
tap.ok(#wrong == 0, "generic_error has each of Emilua 0.4's 74 names", table.concat(wrong, " "))
tap.ok(generic_error.ENOTSUP == generic_error.EOPNOTSUPP
    and generic_error.EWOULDBLOCK == generic_error.EAGAIN, "aliases are the same error on Linux")
tap.raises({name = "bad_index", index = 2}, "generic_error raises for a name it does not have",
    function() return generic_error.ENOTANERROR end)
tap.is(getmetatable(generic_error), "generic_error", "generic_error's metatable is hidden")

local method_error = raised(function() return a:send(42) end)
tap.ok(method_error.arg == 2 and method_error.message:find("bad argument #1 to 'send'", 1, true),
    "arg counts self as argument 1 of a method; the message counts as Lua does")
tap.is(raised(a.send, a, 42).arg, 2, "the same call made as a function gives the same arg")
tap.ok(arg_error.name == "EINVAL" and arg_error.message:find("string", 1, true)
    and tostring(arg_error) == arg_error.message, "errors keep their name and message fields")
tap.is(arg_error.index, nil, "a field an error does not have reads as nil")
tap.raises("protected metatable", "an error's metatable cannot be replaced",
    setmetatable, arg_error, {})

local unknown_option = raised(a.set_option, a, "frobnicate", true)
tap.ok(unknown_option == generic_error.ENOTSUP, "an unknown option raises ENOTSUP")
tap.ok(raised(a.get_option, a, "frobnicate") == generic_error.ENOTSUP,
    "get_option of an unknown option raises ENOTSUP")
tap.ok(raised(a.io_control, a, "frobnicate") == generic_error.ENOTSUP,
    "an unknown io_control command raises ENOTSUP")
local closed = file_descriptor.from_file(io.stdout)
closed:close()
tap.ok(raised(unix.datagram_socket.new, closed) == generic_error.EBUSY,
    "a closed file_descriptor given to datagram_socket.new raises EBUSY")
local spare = unix.datagram_socket.new()
tap.ok(raised(spare.assign, spare, closed) == generic_error.EBUSY,
    "a closed file_descriptor given to assign raises EBUSY")
tap.ok(raised(a.send_with_fds, a, "x", {closed}) == generic_error.EBUSY,
    "a closed file_descriptor given to send_with_fds raises EBUSY")

-- Receives -----------------------------------------------------------------------

local buf = byte_span.new(64)
local stdout_fd = file_descriptor.from_file(io.stdout)
a:send_with_fds("with fds", {stdout_fd})
local results = table.pack(b:receive_from_with_fds(buf, 4))
local unnamed_fds = results[3]
tap.ok(results.n == 4 and results[1] == 8 and results[2] == nil and type(unnamed_fds) == "table"
    and #unnamed_fds == 1 and results[4] == 0,
    "receive_from_with_fds from an unnamed sender gives nil for the path")
a:send("plain")
results = table.pack(b:receive_from(buf))
tap.ok(results.n == 3 and results[1] == 5 and getmetatable(results[2]) == "filesystem.path"
    and tostring(results[2]) == "" and results[3] == 0,
    "receive_from from an unnamed sender gives an empty path")
local named = unix.datagram_socket.new()
named:open()
named:bind(tap.socket_path("emilua-named"))
local server = unix.datagram_socket.new()
server:open()
server:bind(tap.socket_path("emilua-server"))
named:send_to_with_fds("named", tap.socket_path("emilua-server"), {stdout_fd})
local n, from, fds = server:receive_from_with_fds(buf, 4)
tap.ok(n == 5 and tostring(from) == tap.socket_path("emilua-named") and #fds == 1,
    "receive_from_with_fds from a named sender gives its path")
a:send("count")
local counts = {}
table.insert(counts, (b:receive(buf)))
tap.ok(counts[1] == 5 and #counts == 1,
    "the flags trail the reference's values: (sock:receive(buf)) is just the count")

-- Metatables ---------------------------------------------------------------------

local fiber = spawn(function() end)
local objects = {
    {a, "unix.datagram_socket"}, {buf, "byte_span"}, {filesystem.path.new("x"), "filesystem.path"},
    {stdout_fd, "file_descriptor"}, {fiber, "fiber"},
}
for _, entry in ipairs(objects) do
    local object, name = entry[1], entry[2]
    tap.is(getmetatable(object), name, "getmetatable of a " .. name .. " gives its name")
    tap.raises({name = "bad_index", category = "unixdgram.lua", index = 2,
        message = "^" .. name:gsub("%.", "%%.") .. " has no field 'no_such_field'$"},
        "indexing a " .. name .. " with an unknown key raises bad_index",
        function() return object.no_such_field end)
end
tap.raises({name = "bad_index", index = 2}, "a key of another type raises bad_index too",
    function() return a[true] end)
tap.ok(a.is_open == true and type(a.send) == "function" and buf.capacity == 64
    and buf[1] == string.byte("c"), "methods and properties are still found")
fiber:join()

a:close()
b:close()
named:close()
server:close()
stdout_fd:close()
fds[1]:close()
unnamed_fds[1]:close()
-- A realistic Emilua 0.4 program, example/lua/emilua_port.lua, runs unchanged:
-- under the host, and under stock lua5.4 with the module's names as globals.
local port_example = arg[0]:gsub("test/lua/[^/]*$", "example/lua/emilua_port.lua")
local port_expected = table.concat({
    "OK", "VALUE hello", "ERR no such key", "VALUE hello", "ERR unknown command PUT",
    "send to nobody:\tfalse\ttrue", "server stopped, interruption caught:\ttrue", ""}, "\n")
local function run_port(command)
    local child = assert(io.popen(command .. " 2>&1"))
    local output = child:read("a")
    local closed_ok = child:close()
    return output, closed_ok
end
local host = os.getenv("UNIXDGRAM_LUA_HOST")
if host then
    local output, exited_ok = run_port("'" .. host .. "' '" .. port_example .. "'")
    tap.is(output, port_expected, "the Emilua-style example prints its exchange under the host")
    tap.ok(exited_ok, "the host exits 0 after the Emilua-style example")
end
if not hosted then
    local output, exited_ok = run_port("'" .. arg[-1] .. "' -e 'for k, v in pairs(require \"unixdgram\") do _G[k] = v end' '"
        .. port_example .. "'")
    tap.is(output, port_expected, "the Emilua-style example prints its exchange under lua5.4")
    tap.ok(exited_ok, "lua5.4 exits 0 after the Emilua-style example")
end
tap.done()
