//
// fuzz_lua_api.cpp — the Lua binding driven by random sequences of calls.
//
// One lua_State, opened with the binding as a host opens it, lives across
// inputs. A driver written in Lua (below) decodes each input into operations
// on a small pool of objects made from the input (sockets from new() and
// pair(), byte_spans, paths, file_descriptors of /dev/null, a pipe and
// received descriptors, fibers, Lua files) and calls the binding's functions
// and methods with arguments taken from that pool and from a list of odd
// values: nil, negative and huge numbers, NaN, strings with NULs, 108-byte
// paths, closed objects, tables. Every call is made under pcall: raising is
// fine, crashing, hanging or leaking is not. Half the inputs (all of them
// when UNIXDGRAM_LUA_GC_STRESS is set) run with a full collection at every
// allocation check, and an operation arms a finalizer that makes more of the
// input's operations at the next collection: inside a binding call.
//
// Nothing may block forever: calls that wait run in fibers, which the driver
// interrupts and whose sockets it closes when the input ends; a waiting call
// made outside a fiber (the loop-driving path stock lua5.4 uses) has a
// watchdog fiber that cancels its socket, or interrupts the fiber it joins,
// until it returns.
//
// After each input every socket is closed, run() waits for every fiber, the
// pools are dropped and the garbage collected twice; then the process must
// have exactly the descriptors it had before the input, or the harness aborts
// (a crash libFuzzer reports, with the input). The count is taken afresh
// before each input, not once: between inputs libFuzzer itself may open
// descriptors (the pipes to llvm-symbolizer when it prints NEW_FUNC).
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram/lua.hpp>

#include <asio/io_context.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace {

// The driver. Called as a chunk with (directory, pipe read fd, pipe write fd,
// pid); returns {warm_up, run_input, cleanup}.
constexpr char driver_source[] = R"lua(
local directory, pipe_read, pipe_write, pid = ...
local ud = require "unixdgram"
local unix, byte_span, filesystem, file_descriptor = ud.unix, ud.byte_span, ud.filesystem,
    ud.file_descriptor
local spawn, sleep, run = ud.spawn, ud.sleep, ud.run
local socket_type = unix.datagram_socket

-- Socket methods, from the socket's own methods table (its __index, which
-- also holds the socket under a light userdata key), sorted so that an input
-- means the same calls in every run. Those whose names start with receive or
-- send may wait.
local blocking_methods, other_methods = {}, {}
do
    local a = socket_type.pair()
    for name in pairs(debug.getmetatable(a).__index) do
        if type(name) == "string" then
            local list = (name:find("^receive") or name:find("^send")) and blocking_methods
                or other_methods
            list[#list + 1] = name
        end
    end
    a:close()
end
table.sort(blocking_methods)
table.sort(other_methods)
for _, property in ipairs({"is_open", "local_path", "remote_path", "no_such_field"}) do
    other_methods[#other_methods + 1] = "." .. property
end

-- Arguments that own nothing, kept across inputs.
local long = string.rep("p", 108)
local odd_values = {
    false, true, 0, 1, -1, 2, 3, 7, 8, 64, 253, 254, 255, 256, 65536, 1 << 31, 1 << 32,
    (1 << 32) + 1, math.maxinteger, math.mininteger, 0.5, -0.0, 1 / 0, -1 / 0, 0 / 0, 1e300,
    2 ^ 53, "", "x", "hello", "a\0b", "\0", "\0\0", long, "\0" .. long:sub(2), "\0" .. long,
    long:sub(2), directory .. "/a", directory .. "/b", directory .. "/" .. long:sub(#directory + 2),
    directory .. "/missing/x", "\0unixdgram-fuzz-" .. pid .. "-a",
    "\0unixdgram-fuzz-" .. pid .. "-b", string.rep("d", 70000), string.rep("e", 300000),
    "receive", "send", "both", "bytes_readable", "debug", "send_buffer_size",
    "receive_buffer_size", "pass_credentials", "peer_credentials", "nonsense", "r", "w", "a+",
    "rb", "x", {}, {1, 2}, {n = 3},
    setmetatable({}, {__index = function() error("hostile __index") end}),
    tostring, coroutine.yield, function(...) return ... end,
    coroutine.create(function() end), unix.message_flag.peek,
    unix.message_flag.truncated, unix.message_flag.control_truncated,
}
local odd_count = #odd_values + 1 -- the extra one is nil

-- What this input made, by kind; each list is what arguments are drawn from.
local pool
-- Every socket and fiber made, even those dropped from the pool, so that
-- cleanup can close and interrupt them; weak, so that the collector still
-- gets to collect what nothing else holds.
local every_socket = setmetatable({}, {__mode = "k"})
local every_fiber = setmetatable({}, {__mode = "k"})
local persistent_files = {
    null = assert(io.open("/dev/null", "r")),
    pipe_read = assert(io.open("/proc/self/fd/" .. pipe_read, "r")),
    pipe_write = assert(io.open("/proc/self/fd/" .. pipe_write, "w")),
}
local kinds = {"socket", "span", "path", "fd", "fiber", "file", "thread", "fd_list"}

local input, position

local function byte()
    position = position + 1
    return input:byte(position) or 0
end

local function add(kind, object)
    local list = pool[kind]
    if #list < 16 then
        list[#list + 1] = object
    else
        list[byte() % 16 + 1] = object
    end
    if kind == "socket" then
        every_socket[object] = true
    elseif kind == "fiber" then
        every_fiber[object] = true
    end
end

local type_kinds = {
    ["unix.datagram_socket"] = "socket", byte_span = "span", ["filesystem.path"] = "path",
    file_descriptor = "fd", fiber = "fiber", ["FILE*"] = "file",
}

-- The pool kind of a binding object or Lua file; nil for anything else.
-- debug.getmetatable: every type hides its metatable from getmetatable.
local function kind_of(value)
    local metatable = debug.getmetatable(value)
    return type(metatable) == "table" and type_kinds[rawget(metatable, "__name")] or nil
end

-- Keeps what a call returned, so that later calls use it.
local function keep(...)
    for at = 1, select("#", ...) do
        local value = select(at, ...)
        local kind = kind_of(value)
        if kind then
            add(kind, value)
        elseif type(value) == "table" and getmetatable(value) == nil and #value > 0
            and #value < 300 then
            add("fd_list", value)
            for _, item in ipairs(value) do
                if kind_of(item) == "fd" then
                    add("fd", item)
                end
            end
        end
    end
end

local function pick(kind)
    local list = pool[kind]
    if #list == 0 then
        return nil
    end
    return list[byte() % #list + 1]
end

-- One argument: mostly an odd value, else something the input made.
local function value()
    local choice = byte()
    if choice < 112 then
        return odd_values[choice % odd_count + 1]
    end
    return pick(kinds[choice % #kinds + 1])
end

-- A few arguments, as a table with n.
local function values()
    local args = {n = byte() % 5}
    for at = 1, args.n do
        args[at] = value()
    end
    return args
end

-- The receiver of a method: almost always of the right kind.
local function subject(kind)
    if byte() < 16 then
        return value()
    end
    return pick(kind)
end

-- Sizes that would make libFuzzer report an allocation of gigabytes as a
-- crash are left out: the binding accepts spans up to 4 GiB on purpose.
local function allocates_too_much(args)
    for at = 1, args.n do
        local item = args[at]
        if type(item) == "number" and item > 1e6 and item <= 2 ^ 33 then
            return true
        end
        if kind_of(item) == "span" and #item > 1e6 then
            return true
        end
    end
    return false
end

-- Calls method `name` of `object` (a property read when name starts with ".").
local function call_method(object, name, args)
    if name:sub(1, 1) == "." then
        return pcall(function() return object[name:sub(2)] end)
    end
    return pcall(function() return object[name](object, table.unpack(args, 1, args.n)) end)
end

local function spawn_kept(body, ...)
    local ok, fiber = pcall(spawn, body, ...)
    if ok then
        add("fiber", fiber)
    end
end

-- A call outside any fiber that may wait: a watchdog fiber cancels the
-- socket (or interrupts the joined fiber) until the call has returned.
local function call_with_watchdog(stop, call)
    local done = false
    spawn_kept(function()
        while not done do
            stop()
            if not pcall(sleep, 0) then
                return
            end
        end
    end)
    local results = table.pack(call())
    done = true
    return table.unpack(results, 1, results.n)
end

local function cancel(object)
    return function()
        pcall(object.cancel, object)
    end
end

local operations = {
    function() -- new(), new(fd) and new(odd value)
        local ok, socket = pcall(socket_type.new, byte() < 128 and pick("fd") or value())
        if ok then
            add("socket", socket)
        end
    end,
    function()
        local ok, a, b = pcall(socket_type.pair)
        if ok then
            add("socket", a)
            add("socket", b)
        end
    end,
    function() -- a method that does not wait
        local object = subject("socket")
        local name = other_methods[byte() % #other_methods + 1]
        keep(call_method(object, name, values()))
    end,
    function() -- a send or receive in a fiber of its own
        local object = subject("socket")
        local name = blocking_methods[byte() % #blocking_methods + 1]
        local args = values()
        spawn_kept(function()
            keep(call_method(object, name, args))
        end)
    end,
    function() -- a send or receive outside any fiber: it drives the loop itself
        local object = subject("socket")
        local name = blocking_methods[byte() % #blocking_methods + 1]
        local args = values()
        if kind_of(object) ~= "socket" then
            return keep(call_method(object, name, args))
        end
        keep(call_with_watchdog(cancel(object), function()
            if byte() < 128 then
                return call_method(object, name, args)
            end
            -- from a coroutine the program made, which drives the loop too
            return coroutine.wrap(call_method)(object, name, args)
        end))
    end,
    function() -- close, cancel or release from a fiber, at some later moment
        local object = subject("socket")
        local name = ({"close", "cancel", "release"})[byte() % 3 + 1]
        local delay = byte() % 3
        spawn_kept(function()
            for _ = 1, delay do
                if not pcall(sleep, 0) then
                    return
                end
            end
            keep(call_method(object, name, {n = 0}))
        end)
    end,
    function() -- byte_span
        local span = subject("span")
        local args = values()
        local which = byte() % 9
        if which == 0 then
            if not allocates_too_much(args) then
                keep(pcall(byte_span.new, table.unpack(args, 1, args.n)))
            end
        elseif which == 1 then
            if not allocates_too_much(args) then
                keep(pcall(byte_span.append, span, table.unpack(args, 1, args.n)))
            end
        elseif which == 2 then
            if not allocates_too_much(args) and not allocates_too_much({n = 1, span}) then
                keep(call_method(span, "append", args))
            end
        elseif which == 3 then
            keep(call_method(span, "slice", args))
        elseif which == 4 then
            call_method(span, "copy", args)
        elseif which == 5 then
            pcall(function() return span[args[1]] end)
        elseif which == 6 then
            pcall(function() span[args[1]] = args[2] end)
        elseif which == 7 then
            pcall(function() return #span, tostring(span), span.capacity end)
        else
            pcall(function() return span == args[1] end)
        end
    end,
    function() -- filesystem.path
        local which = byte() % 4
        local a, b = value(), value()
        if which == 0 then
            keep(pcall(filesystem.path.new, a))
        elseif which == 1 then
            keep(pcall(function() return a .. b end))
        elseif which == 2 then
            pcall(function() return a == b end)
        else
            pcall(tostring, a)
        end
    end,
    function() -- file_descriptor
        local fd = subject("fd")
        local which = byte() % 4
        if which == 0 then
            call_method(fd, "close", {n = 0})
        elseif which == 1 then
            keep(call_method(fd, "dup", {n = 0}))
        elseif which == 2 then
            keep(call_method(fd, "to_file", {n = 1, byte() < 128 and "r" or value()}))
        else
            keep(pcall(file_descriptor.from_file, byte() < 128 and pick("file") or value()))
        end
    end,
    function() -- interrupt a fiber
        local fiber = subject("fiber")
        call_method(fiber, "interrupt", {n = 0})
    end,
    function() -- join a fiber from another fiber
        local fiber = subject("fiber")
        spawn_kept(function()
            keep(call_method(fiber, "join", {n = 0}))
        end)
    end,
    function() -- join a fiber outside any fiber
        local fiber = subject("fiber")
        if kind_of(fiber) ~= "fiber" then
            return call_method(fiber, "join", {n = 0})
        end
        keep(call_with_watchdog(function()
            pcall(fiber.interrupt, fiber)
        end, function()
            return call_method(fiber, "join", {n = 0})
        end))
    end,
    function() -- let the loop run a little
        pcall(sleep, 0)
    end,
    function() -- sleep in a fiber, for any duration
        local duration = value()
        spawn_kept(function()
            pcall(sleep, duration)
        end)
    end,
    function() -- run() in a fiber: waits for every other fiber
        spawn_kept(function()
            pcall(run)
        end)
    end,
    function() -- spawn with odd arguments
        local args = values()
        spawn_kept(table.unpack(args, 1, args.n))
    end,
    function() -- a fiber resumed by coroutine.resume while it waits
        local object = subject("socket")
        spawn_kept(function()
            add("thread", coroutine.running())
            pcall(object.receive, object, byte_span.new(8))
        end)
    end,
    function()
        local thread = pick("thread")
        if thread then
            pcall(coroutine.resume, thread, value())
        end
    end,
    function() -- the collector, at any moment
        if byte() < 128 then
            collectgarbage("collect")
        else
            collectgarbage("step")
        end
    end,
    function() -- drop an object: only pending operations still hold it
        local list = pool[kinds[byte() % #kinds + 1]]
        if #list > 0 then
            table.remove(list, byte() % #list + 1)
        end
    end,
    function() -- a metamethod called directly, as Lua code may
        local kind = kinds[byte() % 4 + 1] -- socket, span, path, fd
        local object = pick(kind)
        local metatable = debug.getmetatable(object)
        if type(metatable) ~= "table" then
            return
        end
        local name = ({"__gc", "__close", "__tostring", "__len", "__eq", "__concat"})[byte() % 6 + 1]
        local metamethod = rawget(metatable, name)
        if metamethod then
            pcall(metamethod, object, value())
        end
    end,
}

-- A finalizer that makes some of the input's operations, at the next
-- collection: inside whatever binding call allocates then.
operations[#operations + 1] = function()
    local count = byte() % 4 + 1
    setmetatable({}, {__gc = function()
        for _ = 1, count do
            if pool and position < #input then
                operations[byte() % #operations + 1]()
            end
        end
    end})
end

-- GC stress, for inputs whose first byte is odd (every input when
-- UNIXDGRAM_LUA_GC_STRESS is set): a full collection at every allocation
-- check (pause 0, a step size past any debt: each step completes a cycle),
-- so that the finalizers above run inside every binding call that allocates.
local force_stress = (os.getenv("UNIXDGRAM_LUA_GC_STRESS") or "") ~= ""
    and os.getenv("UNIXDGRAM_LUA_GC_STRESS") ~= "0"
local function set_collector(data)
    if force_stress or (data:byte(1) or 0) % 2 == 1 then
        collectgarbage("incremental", 1, 100, 63)
    else
        collectgarbage("incremental", 200, 100, 13)
    end
    collectgarbage()
end

-- That each allocation check really runs a full cycle, shown once: an object
-- only a weak table holds must be gone after every allocation.
local function measure_stress()
    set_collector("\1")
    local weak = setmetatable({}, {__mode = "v"})
    local collected = 0
    for _ = 1, 1000 do
        weak[1] = {}
        local _ = {}
        if weak[1] == nil then
            collected = collected + 1
        end
    end
    io.stderr:write(string.format(
        "fuzz_lua_api: GC stress collected at %d of 1000 allocation checks; %s\n", collected,
        force_stress and "every input under GC stress" or "inputs with an odd first byte under GC stress"))
    if collected ~= 1000 then
        error("GC stress does not collect at every allocation check")
    end
end

local function start_input(data)
    set_collector(data)
    input, position = data, 0
    pool = {}
    for _, kind in ipairs(kinds) do
        pool[kind] = {}
    end
    local a, b = socket_type.pair()
    add("socket", a)
    add("socket", b)
    add("span", byte_span.new(64))
    add("span", byte_span.new(4, 16))
    add("path", filesystem.path.new("\0unixdgram-fuzz-" .. pid .. "-a"))
    add("path", filesystem.path.new(directory .. "/a"))
    add("fd", file_descriptor.from_file(persistent_files.null))
    add("fd", file_descriptor.from_file(persistent_files.pipe_read))
    add("fd", file_descriptor.from_file(persistent_files.pipe_write))
end

local function run_input(data)
    start_input(data)
    local count = 0
    while position < #input and count < 256 do
        operations[byte() % #operations + 1]()
        count = count + 1
    end
end

-- Interrupts every fiber and closes every socket, then waits for every fiber.
-- A fiber that can still not finish is a bug: run() then reports a deadlock,
-- or never returns (a timeout for libFuzzer).
local function cleanup()
    for fiber in pairs(every_fiber) do
        pcall(fiber.interrupt, fiber)
    end
    for socket in pairs(every_socket) do
        pcall(socket.close, socket)
    end
    -- run() raises, one by one, the errors of fibers no one joined.
    for _ = 1, 10000 do
        local ok, err = pcall(run)
        if ok then
            break
        end
        if type(err) == "table" and err.name == "deadlock" then
            error("fibers left waiting after every socket was closed: " .. tostring(err))
        end
    end
    pool = nil
    set_collector("")
    for _, name in ipairs({"a", "b", long:sub(#directory + 2)}) do
        os.remove(directory .. "/" .. name)
    end
end

return {warm_up = function() measure_stress(); start_input(""); sleep(0); cleanup() end,
        run_input = run_input,
        cleanup = cleanup}
)lua";

// Open descriptors, from /proc/self/fd, less the one reading it.
std::size_t open_fd_count()
{
    DIR* directory = ::opendir("/proc/self/fd");
    if (!directory)
        std::abort();
    std::size_t count = 0;
    while (const dirent* entry = ::readdir(directory))
        if (entry->d_name[0] != '.')
            ++count;
    ::closedir(directory);
    return count - 1;
}

void list_open_fds()
{
    DIR* directory = ::opendir("/proc/self/fd");
    while (const dirent* entry = directory ? ::readdir(directory) : nullptr) {
        if (entry->d_name[0] == '.')
            continue;
        char target[256] = {};
        std::string link = std::string("/proc/self/fd/") + entry->d_name;
        ::readlink(link.c_str(), target, sizeof(target) - 1);
        std::fprintf(stderr, "  fd %s -> %s\n", entry->d_name, target);
    }
    if (directory)
        ::closedir(directory);
}

[[noreturn]] void fail(lua_State* L, const char* what)
{
    std::fprintf(stderr, "fuzz_lua_api: %s: %s\n", what, lua_tostring(L, -1));
    std::abort();
}

char temporary_directory[] = "/tmp/unixdgram-fuzz-lua.XXXXXX";

void remove_temporary_directory()
{
    ::rmdir(temporary_directory);
}

// Never destroyed: the state lives as long as the process, and libFuzzer
// exits without unwinding.
struct harness {
    asio::io_context context;
    lua_State* L = nullptr;
    int driver = LUA_NOREF;

    harness()
    {
        if (!::mkdtemp(temporary_directory))
            std::abort();
        std::atexit(remove_temporary_directory);
        // A pipe for the driver to make descriptors of; it stays open.
        int pipe_ends[2];
        if (::pipe2(pipe_ends, O_CLOEXEC) != 0)
            std::abort();

        L = luaL_newstate();
        luaL_openlibs(L);
        if (unixdgram::lua::open(L, context.get_executor()) != LUA_OK)
            fail(L, "open");
        if (luaL_loadbuffer(L, driver_source, sizeof(driver_source) - 1, "=driver") != LUA_OK)
            fail(L, "loading the driver");
        lua_pushstring(L, temporary_directory);
        lua_pushinteger(L, pipe_ends[0]);
        lua_pushinteger(L, pipe_ends[1]);
        lua_pushinteger(L, ::getpid());
        if (lua_pcall(L, 4, 1, 0) != LUA_OK)
            fail(L, "starting the driver");
        driver = luaL_ref(L, LUA_REGISTRYINDEX);

        // The event loop opens its own descriptors (epoll, eventfd, timerfd)
        // on first use, which must not count as the first input's.
        call("warm_up", nullptr, 0);
        collect();
    }

    void call(const char* function, const std::uint8_t* data, std::size_t size)
    {
        lua_rawgeti(L, LUA_REGISTRYINDEX, driver);
        lua_getfield(L, -1, function);
        lua_remove(L, -2);
        int arguments = 0;
        if (data) {
            lua_pushlstring(L, reinterpret_cast<const char*>(data), size);
            arguments = 1;
        }
        if (lua_pcall(L, arguments, 0, 0) != LUA_OK)
            fail(L, function);
    }

    void collect()
    {
        lua_gc(L, LUA_GCCOLLECT);
        lua_gc(L, LUA_GCCOLLECT);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static harness* const fuzz = new harness();
    const std::size_t baseline_fds = open_fd_count();
    fuzz->call("run_input", data, size);
    fuzz->call("cleanup", nullptr, 0);
    fuzz->collect();
    const std::size_t open_fds = open_fd_count();
    if (open_fds != baseline_fds) {
        std::fprintf(stderr, "fuzz_lua_api: %zu descriptors open after the input, %zu before\n",
                     open_fds, baseline_fds);
        list_open_fds();
        std::abort();
    }
    return 0;
}
