-- Argument errors name their function, however it is called (as a method,
-- through pcall, from a fiber, by a local of another name), and paths that
-- do not fit raise ENAMETOOLONG.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, filesystem, file_descriptor = ud.unix, ud.byte_span, ud.filesystem,
    ud.file_descriptor

-- Path length errors -----------------------------------------------------------

local too_long = string.rep("p", 109)
local abstract_too_long = "\0" .. string.rep("a", 108)
for _, case in ipairs({
    {"bind", function(s, p) return s:bind(p) end},
    {"connect", function(s, p) return s:connect(p) end},
    {"send_to", function(s, p) return s:send_to("x", p) end},
    {"send_to_with_fds", function(s, p) return s:send_to_with_fds("x", p, {}) end},
}) do
    local name, call = case[1], case[2]
    for _, long in ipairs({too_long, abstract_too_long, filesystem.path.new(too_long)}) do
        local sock = unix.datagram_socket.new()
        sock:open()
        local what = type(long) == "string" and (#long .. " bytes" .. (long:byte(1) == 0
            and ", abstract" or "")) or "a filesystem.path"
        tap.raises({name = "ENAMETOOLONG", category = "system",
                    message = "^bad argument #%d to '" .. name .. "' %(path too long"},
            name .. " with a path too long (" .. what .. ") raises ENAMETOOLONG naming it",
            call, sock, long)
        sock:close()
    end
end

-- Every function names itself -------------------------------------------------

-- Objects of each type, made afresh for each call: a call may close them.
local makers = {
    ["unix.datagram_socket"] = function()
        local sock = unix.datagram_socket.new()
        sock:open()
        return sock
    end,
    byte_span = function() return byte_span.new(4) end,
    ["filesystem.path"] = function() return filesystem.path.new("/tmp/x") end,
    file_descriptor = function() return file_descriptor.from_file(io.stdin) end,
    fiber = function() return ud.spawn(function() end) end,
}

local function methods_of(object)
    local index = debug.getmetatable(object).__index
    if type(index) == "function" then
        local _, methods = debug.getupvalue(index, 2)
        return methods
    end
    return index
end

-- Argument lists that are wrong for every function, yet cannot make one wait:
-- no byte_span to receive into, no number a sleep would take.
local bad_lists = {
    {},
    {"x"},
    {{}},
    {true, true},
    {"x", {}},
    {{}, {}, {}},
    {"x", "y", "z", "w", "v"},
}

-- The functions to try: {name in messages, function, maker of self or nil}.
local functions = {}
for type_name, make in pairs(makers) do
    local methods = methods_of(make())
    for method, fn in pairs(methods) do
        -- A socket's own methods table also holds the socket, under a light
        -- userdata key.
        if type(method) == "string" then
            functions[#functions + 1] = {method, fn, make, type_name .. ":" .. method}
        end
    end
end
local function add_module_functions(prefix, table_)
    for key, value in pairs(table_) do
        -- pair and temp_directory_path take no arguments, run ignores them.
        if type(value) == "function" and key ~= "run" and key ~= "pair"
            and key ~= "temp_directory_path" then
            functions[#functions + 1] = {prefix .. key, value, nil, prefix .. key}
        elseif type(value) == "table" and prefix:gsub("[^.]", "") ~= ".." then
            add_module_functions(prefix .. key .. ".", value)
        end
    end
end
add_module_functions("", ud)
table.sort(functions, function(a, b) return a[4] < b[4] end)

-- Calls fn with each list, as its receiver's method (self first) or as a
-- function, in the three ways; returns the argument error messages.
local function argument_errors(fn, make, style, method_name)
    local messages = {}
    local calls = {}
    for _, list in ipairs(bad_lists) do
        calls[#calls + 1] = {table.unpack(list)}
        if make then -- with a self, and with a wrong one
            calls[#calls + 1] = {make(), table.unpack(list)}
        end
    end
    for _, arguments in ipairs(calls) do
        local ok, err
        if style == "pcall" then
            ok, err = pcall(fn, table.unpack(arguments))
        elseif style == "method" then
            -- obj:name(...), the method found through __index
            -- (on a wrong self: a table whose __index has the method)
            local call = load("local self = ...; return self:" .. method_name .. "(select(2, ...))")
            local self = arguments[1]
            if debug.getmetatable(self) == nil or type(self) ~= "userdata" then
                self = setmetatable({}, {__index = {[method_name] = fn}})
                ok, err = pcall(call, self, table.unpack(arguments, 2))
            else
                ok, err = pcall(call, table.unpack(arguments))
            end
        elseif style == "local" then
            local renamed = fn
            ok, err = pcall(function() return renamed(table.unpack(arguments)) end)
        else
            local fiber = ud.spawn(function() return pcall(fn, table.unpack(arguments)) end)
            ok, err = fiber:join()
        end
        local message = type(err) == "table" and err.message or tostring(err)
        if not ok and (message:find("^bad argument") or message:find("^calling '")) then
            messages[#messages + 1] = message
        end
    end
    return messages
end

for _, entry in ipairs(functions) do
    local name, fn, make, shown = table.unpack(entry)
    local styles = make and {"method", "pcall", "local", "fiber"} or {"pcall", "local", "fiber"}
    for _, style in ipairs(styles) do
        local messages = argument_errors(fn, make, style, name)
        local wrong
        for _, message in ipairs(messages) do
            if not message:find("to '" .. name:gsub("%p", "%%%0") .. "'", 1)
                and not message:find("calling '" .. name:gsub("%p", "%%%0") .. "'", 1) then
                wrong = message
            end
        end
        tap.ok(#messages > 0 and not wrong,
            shown .. " called by " .. style .. " names itself in its argument errors",
            wrong or (#messages == 0 and "no argument error raised") or nil)
    end
end

-- The metamethods that check arguments, called as Lua calls them.
local span = byte_span.new(3)
-- Emilua raises ERANGE for an index out of range, as a range error rather
-- than an argument error; the message still names the type and the index.
tap.raises({name = "ERANGE", message = "^byte_span index 0 out of range"},
    "byte_span indexing out of range raises ERANGE naming byte_span and the index",
    function() return span[0] end)
tap.raises({message = "^bad argument #3 to 'byte_span.__newindex'"},
    "byte_span assignment of a bad value names byte_span.__newindex",
    function() span[1] = "x" end)

-- The error objects' own __tostring, called by hand.
local sample = select(2, pcall(unix.datagram_socket.new, 5))
tap.raises({message = "^bad argument #1 to 'error_code.__tostring' %(error_code expected"},
    "an error object's __tostring on a number names itself",
    debug.getmetatable(sample).__tostring, 5)

-- The method hint is for methods only.
local err = tap.raises({message = "call methods with ':'"}, "sock.bind() hints at ':'",
    function() unix.datagram_socket.new().bind() end)
err = tap.raises({name = "EINVAL"}, "datagram_socket.new(5) raises",
    unix.datagram_socket.new, 5)
tap.ok(err and not err.message:find("call methods"),
    "a module function's error has no hint about ':'", err and err.message)

ud.run()
os.exit(tap.done() and 0 or 1)
