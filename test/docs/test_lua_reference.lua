-- test/docs/test_lua_reference.lua — the Lua reference (doc/lua/*.md) names
-- exactly what the binding has.
--
-- Every name the binding registers is found at run time: the module's
-- fields, the functions of each type's table, the methods and metamethods of
-- each metatable (a methods table behind an __index function is that
-- function's second upvalue), the fields of unix.message_flag and of error
-- objects, and the option and io_control names (from the error that lists
-- them when a name is unknown). Properties are strings an __index function
-- recognises, which no table holds: each string literal of the type's
-- source file is tried as a key on a live object, and one that reads as a
-- value other than nil, and is not a method, is a property.
-- doc/lua/README.md describes the convention the pages follow.
--
-- Run by the unixdgram-lua host (test/docs/meson.build), with
-- UNIXDGRAM_SOURCE_ROOT naming the source tree.

local tap = require "tap"
local ud = require "unixdgram"

local source_root = assert(os.getenv("UNIXDGRAM_SOURCE_ROOT"), "UNIXDGRAM_SOURCE_ROOT is not set")
local doc_dir = source_root .. "/doc/lua"

local function read_file(path)
    local file = assert(io.open(path, "rb"))
    local text = file:read("a")
    file:close()
    return text
end

local function sorted(set)
    local list = {}
    for name in pairs(set) do list[#list + 1] = name end
    table.sort(list)
    return list
end

-- The pages ------------------------------------------------------------------

-- page name -> kind (section) -> set of names
local documented = {}
local page_files = {}

-- "## Methods" -> "methods"
local section_kinds = {
    ["functions"] = "functions",
    ["methods"] = "methods",
    ["properties"] = "properties",
    ["options"] = "options",
    ["io_control commands"] = "io_control",
    ["fields"] = "fields",
    ["metamethods"] = "metamethods",
    ["host globals"] = "globals",
}

local function parse_page(path)
    local page, kind
    local sections = {}
    local in_code = false
    for line in read_file(path):gmatch("[^\n]*") do
        -- Headings inside fenced code blocks are code, not headings.
        if line:match("^```") then
            in_code = not in_code
            line = ""
        elseif in_code then
            line = ""
        end
        local title = line:match("^# (.-)%s*$")
        if title and not page then
            page = title:gsub("`", "")
        end
        local section = line:match("^## (.-)%s*$")
        if section then
            kind = section_kinds[section:lower()]
        end
        local heading = line:match("^### (.-)%s*$")
        if heading and kind then
            -- `name(arguments) -> results` or `name`: the name ends at the
            -- first parenthesis or space.
            local name = heading:gsub("`", ""):match("^([^%s(]+)")
            sections[kind] = sections[kind] or {}
            sections[kind][name] = true
        end
    end
    return page, sections
end

local listing = assert(io.popen("ls -1 '" .. doc_dir .. "'"))
for file in listing:lines() do
    if file:match("%.md$") and file ~= "README.md" then
        local page, sections = parse_page(doc_dir .. "/" .. file)
        if tap.ok(page ~= nil, file .. " starts with a '# name' title naming its type") then
            documented[page] = sections
            page_files[page] = file
        end
    end
end
listing:close()

-- What the binding registers ---------------------------------------------------

-- page -> kind -> set
local registered = {}

local function register(page, kind, name)
    registered[page] = registered[page] or {}
    registered[page][kind] = registered[page][kind] or {}
    registered[page][kind][name] = true
end

local function register_keys(page, kind, t, filter)
    registered[page] = registered[page] or {}
    registered[page][kind] = registered[page][kind] or {}
    for name, value in pairs(t) do
        if type(name) == "string" and (not filter or filter(name, value)) then
            registered[page][kind][name] = true
        end
    end
end

-- Methods and metamethods of the metatable of `object`.
local internal_metafields = {__index = true, __name = true, __metatable = true}
local function register_metatable(page, object)
    local metatable = assert(debug.getmetatable(object), page .. " objects have a metatable")
    local methods = metatable.__index
    if type(methods) == "function" then
        local _, upvalue = debug.getupvalue(methods, 2)
        methods = upvalue
    end
    if type(methods) == "table" then
        register_keys(page, "methods", methods)
    end
    register_keys(page, "metamethods", metatable, function(name)
        return name:sub(1, 2) == "__" and not internal_metafields[name]
    end)
end

-- A type's table: its functions, and its other fields (constants).
local function register_table(page, t)
    register_keys(page, "functions", t, function(_, value) return type(value) == "function" end)
    register_keys(page, "fields", t, function(_, value) return type(value) ~= "function" end)
end

-- The module table, and the namespaces in it: a table unix.X or
-- filesystem.X is the type of page "unix.X" or "filesystem.X"; a function
-- is one of the namespace's own, on page "unix" or "filesystem".
local fiber_functions = {spawn = true, sleep = true, run = true}
register_keys("unixdgram", "fields", ud)
for name, value in pairs(ud) do
    if fiber_functions[name] then
        register("fiber", "functions", name)
    end
end
for _, namespace in ipairs({"unix", "filesystem"}) do
    for name, value in pairs(ud[namespace]) do
        if type(value) == "table" then
            registered[namespace .. "." .. name] = registered[namespace .. "." .. name] or {}
        else
            register(namespace, type(value) == "function" and "functions" or "fields", name)
        end
    end
end

-- The host's globals (this test runs in the host): those open() sets are the
-- module's own values.
for name, value in pairs(ud) do
    if rawget(_G, name) == value then
        register("unixdgram", "globals", name)
    end
end

register_table("unix.datagram_socket", ud.unix.datagram_socket)
register_keys("unix.message_flag", "fields", ud.unix.message_flag)
register_table("byte_span", ud.byte_span)
register_table("filesystem.path", ud.filesystem.path)
register_table("file_descriptor", ud.file_descriptor)
register_table("systemd", ud.systemd)

local a, b = ud.unix.datagram_socket.pair()
local span = ud.byte_span.new(4)
local path = ud.filesystem.path.new("/tmp/x.y")
local descriptor = ud.file_descriptor.from_file(io.stdout)
local fiber = ud.spawn(function() end)
register_metatable("unix.datagram_socket", a)
register_metatable("byte_span", span)
register_metatable("filesystem.path", path)
register_metatable("file_descriptor", descriptor)
register_metatable("fiber", fiber)
fiber:join()

-- Error objects: the fields of an argument error (arg), of a failed
-- send_many (sent) and of a failed filesystem function (path1, path2)
-- cover them all.
local errors = {}
errors[#errors + 1] = select(2, pcall(a.send, a, 42))
b:close()
errors[#errors + 1] = select(2, pcall(a.send_many, a, {"x"}))
if ud.filesystem.rename then
    errors[#errors + 1] = select(2, pcall(ud.filesystem.rename,
        "/nonexistent/unixdgram-docs-test-a", "/nonexistent/unixdgram-docs-test-b"))
end
for _, err in ipairs(errors) do
    if tap.is(type(err), "table", "an error object is a table") then
        register_keys("unixdgram.error", "fields", err)
        register_metatable("unixdgram.error", err)
    end
end
tap.ok(registered["unixdgram.error"]["fields"].sent, "a failed send_many's error object has 'sent'")

-- Option and io_control names, as the error for an unknown one lists them.
local function listed_names(fn, marker)
    local ok, err = pcall(fn)
    local message = not ok and type(err) == "table" and err.message or ""
    local list = message:match(marker .. "(.*)$")
    local names = {}
    for name in (list or ""):gmatch("'([%w_]+)'") do names[name] = true end
    tap.ok(next(names) ~= nil, "the error for an unknown name lists the known ones after '"
        .. marker .. "'", message)
    return names
end
local c, d = ud.unix.datagram_socket.pair()
for name in pairs(listed_names(function() return c:get_option("no such option") end,
    "known options: ")) do
    register("unix.datagram_socket", "options", name)
end
for name in pairs(listed_names(function() return c:io_control("no such command") end,
    "known commands: ")) do
    register("unix.datagram_socket", "io_control", name)
end

-- Properties: each string literal of a type's source file, tried as a key
-- on a live object (a connected socket, so that remote_path reads).
local samples = {
    ["unix.datagram_socket"] = {object = c, source = "datagram_socket.cpp"},
    ["byte_span"] = {object = span, source = "byte_span.cpp"},
    ["filesystem.path"] = {object = path, source = "path.cpp"},
    ["file_descriptor"] = {object = descriptor, source = "file_descriptor.cpp"},
    ["fiber"] = {object = fiber, source = "fiber.cpp"},
}
local function is_property(page, sample, name)
    local methods = registered[page].methods or {}
    if methods[name] then
        return false
    end
    local ok, value = pcall(function() return sample[name] end)
    return ok and value ~= nil
end
for page, sample in pairs(samples) do
    local text = read_file(source_root .. "/bindings/lua/src/" .. sample.source)
    for name in text:gmatch('"([%a_][%w_]*)"') do
        if is_property(page, sample.object, name) then
            register(page, "properties", name)
        end
    end
    tap.ok(not is_property(page, sample.object, "no_such_property"),
        page .. ": an unknown key is no property, so the probe can tell")
end

-- Each documented option is accepted by get_option on a connected pair.
for _, name in ipairs(sorted(documented["unix.datagram_socket"]
    and documented["unix.datagram_socket"].options or {})) do
    local ok, err = pcall(c.get_option, c, name)
    tap.ok(ok or not tostring(err and err.message):find("unknown option"),
        "unix.datagram_socket option '" .. name .. "' is known to get_option",
        not ok and tostring(err and err.message) or nil)
end

-- Both ways --------------------------------------------------------------------

for _, page in ipairs(sorted(registered)) do
    tap.ok(documented[page] ~= nil, "the binding's " .. page .. " has a page in doc/lua",
        "no doc/lua/*.md starts with '# " .. page .. "'")
end
for _, page in ipairs(sorted(documented)) do
    tap.ok(registered[page] ~= nil, "doc/lua/" .. page_files[page] .. " documents a type the binding has")
end

for _, page in ipairs(sorted(registered)) do
    local kinds = {}
    for kind in pairs(registered[page]) do kinds[kind] = true end
    for kind in pairs(documented[page] or {}) do kinds[kind] = true end
    for _, kind in ipairs(sorted(kinds)) do
        local have = registered[page][kind] or {}
        local said = (documented[page] or {})[kind] or {}
        local missing, extra = {}, {}
        for name in pairs(have) do
            if not said[name] then missing[#missing + 1] = name end
        end
        for name in pairs(said) do
            if not have[name] then extra[#extra + 1] = name end
        end
        table.sort(missing)
        table.sort(extra)
        tap.ok(#missing == 0, "every one of " .. page .. "'s " .. kind .. " is documented",
            "not documented: " .. table.concat(missing, ", "))
        tap.ok(#extra == 0, "every one of " .. page .. "'s documented " .. kind .. " exists",
            "documented but not in the binding: " .. table.concat(extra, ", "))
    end
end

descriptor:close()
a:close()
c:close()
d:close()
tap.done()
