-- test/docs/test_lua_reference.lua — the Lua reference (doc/lua/*.md) names
-- exactly what the binding has.
--
-- Every name the binding registers is found at run time: the module's
-- fields, the functions of each type's table, the methods and metamethods of
-- each metatable (a methods table behind an __index function is that
-- function's second upvalue), the fields of unix.message_flag and of error
-- objects, and the option and io_control names (from the error that lists
-- them when a name is unknown). Properties are strings an __index function
-- compares, which no table holds: they are read from the sources
-- (`strcmp(key, "name")`) and each documented one is probed on a live object.
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

-- The module table, and the namespaces in it: unix.X and filesystem.X are
-- the types of pages "unix.X" and "filesystem.X".
local fiber_functions = {spawn = true, sleep = true, run = true}
register_keys("unixdgram", "fields", ud)
for name, value in pairs(ud) do
    if fiber_functions[name] then
        register("fiber", "functions", name)
    end
end
for _, namespace in ipairs({"unix", "filesystem"}) do
    for name in pairs(ud[namespace]) do
        registered[namespace .. "." .. name] = registered[namespace .. "." .. name] or {}
    end
end

-- The host's globals (this test runs in the host): those open() sets are the
-- module's own values.
for name, value in pairs(ud) do
    if rawget(_G, name) == value then
        register("unixdgram", "globals", name)
    end
end

register_keys("unix.datagram_socket", "functions", ud.unix.datagram_socket)
register_keys("unix.message_flag", "fields", ud.unix.message_flag)
register_keys("byte_span", "functions", ud.byte_span)
register_keys("filesystem.path", "functions", ud.filesystem.path)
register_keys("file_descriptor", "functions", ud.file_descriptor)

local a, b = ud.unix.datagram_socket.pair()
local span = ud.byte_span.new(4)
local path = ud.filesystem.path.new("/tmp/x")
local descriptor = ud.file_descriptor.from_file(io.stdout)
local fiber = ud.spawn(function() end)
register_metatable("unix.datagram_socket", a)
register_metatable("byte_span", span)
register_metatable("filesystem.path", path)
register_metatable("file_descriptor", descriptor)
register_metatable("fiber", fiber)
fiber:join()

-- Error objects: the fields of an argument error (arg) and of a failed
-- send_many (sent) cover them all.
local errors = {}
errors[#errors + 1] = select(2, pcall(a.send, a, 42))
b:close()
errors[#errors + 1] = select(2, pcall(a.send_many, a, {"x"}))
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

-- Properties, from the sources of the types' __index functions.
local property_sources = {
    ["unix.datagram_socket"] = "datagram_socket.cpp",
    ["byte_span"] = "byte_span.cpp",
    ["filesystem.path"] = "path.cpp",
    ["file_descriptor"] = "file_descriptor.cpp",
    ["fiber"] = "fiber.cpp",
}
for page, file in pairs(property_sources) do
    local text = read_file(source_root .. "/bindings/lua/src/" .. file)
    for name in text:gmatch('strcmp%(key, "([%w_]+)"%)') do
        register(page, "properties", name)
    end
end

-- Each documented property reads as something (or raises, as remote_path of
-- an unconnected socket does) on a live object; an unknown key reads as nil.
local samples = {
    ["unix.datagram_socket"] = c,
    ["byte_span"] = span,
    ["filesystem.path"] = path,
    ["file_descriptor"] = descriptor,
    ["fiber"] = fiber,
}
for page, sample in pairs(samples) do
    local properties = documented[page] and documented[page].properties or {}
    for _, name in ipairs(sorted(properties)) do
        local ok, value = pcall(function() return sample[name] end)
        tap.ok(not ok or value ~= nil, page .. " property '" .. name .. "' exists")
    end
    local ok, value = pcall(function() return sample["no_such_property"] end)
    tap.ok(ok and value == nil, page .. ": an unknown key reads as nil, so the probe can fail")
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
