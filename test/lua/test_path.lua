-- filesystem.path (socket addresses as exact bytes; the algebra is
-- std::filesystem::path's) and the filesystem functions, as Emilua 0.4 has them.
local tap = require "tap"

-- Made before the binding (under stock lua5.4, where require opens it): at
-- lua_close this finalizer runs after the binding's own, and must still get
-- right results (a use of freed memory stops the process under ASan); a wrong
-- one fails the test through the exit status.
late_finalizer = setmetatable({}, {__gc = function()
    local late_path = package.loaded.unixdgram.filesystem.path
    local long = late_path.new("/a/path/long/enough/to/live/on/the/heap/x.sock")
    local ok, joined = pcall(function() return tostring(long:parent_path() / "y") end)
    if not (ok and joined == "/a/path/long/enough/to/live/on/the/heap/y") then
        io.stderr:write("path operation in a late finalizer: ", tostring(joined), "\n")
        os.exit(1)
    end
end})

local ud = require "unixdgram"
local filesystem = ud.filesystem
local path = filesystem.path

local function my_pid()
    local stat = assert(io.open("/proc/self/stat"))
    local pid = stat:read("n")
    stat:close()
    return pid
end

-- construction, tostring, ==
local p = path.new("/tmp/x.socket")
tap.is(tostring(p), "/tmp/x.socket", "tostring gives the bytes back")
tap.is(getmetatable(p), "filesystem.path", "getmetatable gives filesystem.path")
tap.is(debug.getmetatable(p).__name, "filesystem.path", "__name is filesystem.path")
tap.ok(p == path.new("/tmp/x.socket"), "== compares paths")
tap.ok(p ~= path.new("/tmp/y.socket"), "~= tells different paths apart")
tap.ok(p ~= "/tmp/x.socket", "a path is not a string")
tap.ok(path.new("a//b") == path.new("a/b"), "== compares parts, as std::filesystem::path does")
tap.ok(path.new("a/b/") ~= path.new("a/b"), "a trailing separator is a part")
local abstract = path.new("\0name\0with nuls")
tap.is(#tostring(abstract), 15, "embedded NULs are kept")
tap.is(tostring(abstract):byte(1), 0, "a leading NUL is kept: an abstract name")
tap.ok(abstract == path.new("\0name\0with nuls"), "an abstract name equals its own bytes")
tap.ok(path.new("\0a//b") ~= path.new("\0a/b"), "abstract names compare as bytes")
tap.is(tostring(path.new("")), "", "the empty path")
tap.is(tostring(path.new()), "", "new() is the empty path")
tap.is(path.new().empty, true, "new() is empty")
tap.is(tostring(path.new(nil)), "", "new(nil) is the empty path")
tap.raises({name = "EINVAL", arg = 1, message = "string or nil expected, got number"},
    "new(number) raises: no coercion", path.new, 42)
tap.raises({name = "EINVAL", arg = 1}, "new(path) raises", path.new, p)

-- .. concatenates the bytes, / joins with a separator
local joined = p .. ".old"
tap.is(getmetatable(joined), "filesystem.path", "path .. string is a path")
tap.is(tostring(joined), "/tmp/x.socket.old", "path .. string concatenates without a separator")
tap.is(tostring("/run" .. path.new("/x")), "/run/x", "string .. path is a path")
tap.is(tostring(path.new("a") .. path.new("b")), "ab", "path .. path concatenates two paths")
tap.is(tostring(path.new("\0ab") .. "c"), "\0abc", "an abstract name .. string keeps its NUL")
tap.raises({name = "EINVAL", message = "filesystem.path or string expected"},
    "path .. number raises", function() return p .. 1 end)
tap.raises({name = "EINVAL"}, "table .. path raises", function() return {} .. p end)
local dir = path.new("/run/app")
tap.is(tostring(dir / "s.sock"), "/run/app/s.sock", "path / string adds a separator")
tap.is(getmetatable(dir / "s.sock"), "filesystem.path", "path / string is a path")
tap.is(tostring("/run" / path.new("app")), "/run/app", "string / path is a path")
tap.is(tostring(path.new("/run/") / "x"), "/run/x", "no separator is doubled")
tap.is(tostring(dir / "/etc"), "/etc", "an absolute right side replaces the left")
tap.is(tostring(path.new() / "x"), "x", "the empty path / x is x")
tap.raises({name = "EINVAL", message = "filesystem.path or string expected"},
    "path / number raises", function() return dir / 1 end)

-- < and <=
tap.ok(path.new("a") < path.new("b"), "< orders paths")
tap.ok(not (path.new("b") < path.new("a")), "< is strict")
tap.ok(path.new("a/b") < path.new("a/c"), "< compares part by part")
tap.ok(path.new("a") <= path.new("a"), "<= holds for equal paths")
tap.ok(path.new("a//b") <= path.new("a/b") and path.new("a/b") <= path.new("a//b"),
    "<= agrees with == on separators")
tap.ok("a" < path.new("b"), "a string compares < with a path")
tap.ok(path.new("a") <= "a", "a path compares <= with a string")
tap.raises({name = "EINVAL"}, "path < number raises", function() return path.new("a") < 1 end)

-- the parts
local file = path.new("/var/run/app.sock.old")
tap.is(tostring(file:filename()), "app.sock.old", "filename gives the last component")
tap.is(tostring(file:parent_path()), "/var/run", "parent_path gives the directory")
tap.is(tostring(file:stem()), "app.sock", "stem gives the filename without its extension")
tap.is(tostring(file:extension()), ".old", "extension gives the last extension")
tap.is(getmetatable(file:filename()), "filesystem.path", "the parts are paths")
tap.is(tostring(path.new("/var/run/"):filename()), "", "a trailing separator has an empty filename")
tap.is(tostring(path.new(".profile"):stem()), ".profile", "a leading dot is not an extension")
tap.is(tostring(path.new(".profile"):extension()), "", "so the extension is empty")
tap.is(tostring(path.new("/"):parent_path()), "/", "the root is its own parent")
tap.is(tostring(file:root_name()), "", "root_name is empty on POSIX")
tap.is(tostring(file:root_directory()), "/", "root_directory gives the root separator")
tap.is(tostring(file:root_path()), "/", "root_path gives the root")
tap.is(tostring(file:relative_path()), "var/run/app.sock.old",
    "relative_path gives the path after the root")
tap.is(tostring(path.new("a/b"):root_directory()), "", "a relative path has no root directory")

-- replace and remove
tap.is(tostring(file:replace_filename("other.sock")), "/var/run/other.sock",
    "replace_filename replaces the last component")
tap.is(tostring(file:replace_filename(path.new("x"))), "/var/run/x",
    "replace_filename takes a path")
tap.is(tostring(file:replace_extension(".new")), "/var/run/app.sock.new",
    "replace_extension replaces the extension")
tap.is(tostring(file:replace_extension("new")), "/var/run/app.sock.new",
    "replace_extension adds the dot")
tap.is(tostring(file:replace_extension()), "/var/run/app.sock",
    "replace_extension() removes the extension")
tap.is(tostring(file:replace_extension(nil)), "/var/run/app.sock",
    "replace_extension(nil) too")
tap.is(tostring(file:remove_filename()), "/var/run/", "remove_filename keeps the separator")
tap.is(tostring(file), "/var/run/app.sock.old", "paths are immutable")
tap.raises({name = "EINVAL", arg = 2}, "replace_filename(number) raises",
    file.replace_filename, file, 1)
tap.raises({name = "EINVAL", arg = 2}, "replace_filename() raises", file.replace_filename, file)
tap.raises({name = "EINVAL", arg = 2}, "replace_extension(table) raises",
    file.replace_extension, file, {})

-- lexical operations
tap.is(tostring(path.new("a/./b/../c//d"):lexically_normal()), "a/c/d",
    "lexically_normal removes dot components and doubled separators")
tap.is(tostring(path.new("a/.."):lexically_normal()), ".", "lexically_normal of nothing is .")
tap.is(tostring(path.new("/a/b/c"):lexically_relative("/a/d")), "../b/c",
    "lexically_relative gives the path from another")
tap.is(tostring(path.new("/a/b"):lexically_relative(path.new("/a/b"))), ".",
    "lexically_relative to itself is .")
tap.is(tostring(path.new("a/b"):lexically_relative("/a")), "",
    "lexically_relative without a common root is empty")
tap.is(tostring(path.new("a/b"):lexically_proximate("/a")), "a/b",
    "lexically_proximate falls back to the path itself")
tap.is(tostring(path.new("/a/b/c"):lexically_proximate("/a")), "b/c",
    "lexically_proximate where there is a relative path")
tap.raises({name = "EINVAL", arg = 2}, "lexically_relative(nil) raises",
    file.lexically_relative, file, nil)

-- properties: booleans, not methods
local relative = path.new("run/app.sock")
tap.is(file.empty, false, "empty is a property")
tap.is(file.is_absolute, true, "is_absolute is true of an absolute path")
tap.is(file.is_relative, false, "is_relative is false of an absolute path")
tap.is(relative.is_absolute, false, "a relative path is not absolute")
tap.is(relative.is_relative, true, "a relative path is relative")
tap.is(file.has_root_path, true, "has_root_path is true of an absolute path")
tap.is(relative.has_root_path, false, "a relative path has no root path")
tap.is(file.has_root_name, false, "has_root_name is false on POSIX")
tap.is(file.has_root_directory, true, "has_root_directory is true of an absolute path")
tap.is(file.has_relative_path, true, "has_relative_path is true of a path below the root")
tap.is(path.new("/").has_relative_path, false, "the root has no relative path")
tap.is(file.has_parent_path, true, "has_parent_path is true of a path with a directory")
tap.is(path.new("x").has_parent_path, false, "a bare name has no parent path")
tap.is(file.has_filename, true, "has_filename is true of a path that ends in a name")
tap.is(path.new("/tmp/").has_filename, false, "a trailing separator has no filename")
tap.is(file.has_stem, true, "has_stem is true of a path that ends in a name")
tap.is(file.has_extension, true, "has_extension is true of a name with an extension")
tap.is(path.new("Makefile").has_extension, false, "a name without a dot has no extension")
tap.is(path.new().has_stem, false, "the empty path has no stem")

-- generic format, the separator
tap.is(path.from_generic("a/b"):to_generic(), "a/b",
    "from_generic and to_generic keep a generic path")
tap.is(type(path.new("a/b"):to_generic()), "string", "to_generic gives a string")
tap.is(getmetatable(path.from_generic("a")), "filesystem.path", "from_generic gives a path")
tap.is(path.preferred_separator, "/", "preferred_separator is /")
tap.raises({name = "EINVAL", arg = 1}, "from_generic(path) raises", path.from_generic, p)

-- iteration
local function parts(of)
    local seen = {}
    for part in of:iterator() do
        seen[#seen + 1] = tostring(part)
    end
    return table.concat(seen, "|")
end
tap.is(parts(path.new("/var/run/app.sock")), "/|var|run|app.sock",
    "iterator gives the root directory, then each name")
tap.is(parts(path.new("a//b/")), "a|b|", "an empty part after a trailing separator")
tap.is(parts(path.new()), "", "the empty path has no parts")
do
    local next_part = path.new("x/y"):iterator()
    tap.is(getmetatable(next_part()), "filesystem.path", "the parts are paths")
    tap.is(tostring(next_part()), "y", "the iterator goes on")
    tap.is(next_part(), nil, "the iterator ends")
    tap.is(next_part(), nil, "the iterator stays ended")
end

-- Unusual bytes: algebra on an abstract name means nothing, but works.
tap.is(tostring(abstract:filename()), "\0name\0with nuls",
    "an abstract name has itself as filename")
tap.ok(pcall(parts, abstract), "an abstract name iterates")
tap.is(tostring(path.new("a\0b") / "c"), "a\0b/c", "a NUL inside a name stays where it is")

-- Nothing taken from Lua is kept across an allocation: finalizers that run
-- path operations in the middle of others leave the results right.
do
    local right = 0
    for round = 1, 200 do
        setmetatable({}, {__gc = function()
            local _ = path.new("/gc/finalizer/noise"):parent_path() / "more"
        end})
        local result = path.new("/a/b") / "c.sock"
        local name = result:filename()
        if tostring(result) == "/a/b/c.sock" and tostring(name) == "c.sock" then
            right = right + 1
        end
    end
    tap.is(right, 200, "path results stay right while finalizers run path operations")
end

-- The filesystem functions, in a private directory.
local base = path.new(tap.socket_path("fs"))
tap.is(filesystem.create_directory(base), true, "create_directory makes a directory")
tap.is(filesystem.create_directory(base), false,
    "create_directory gives false when the directory is there")
tap.is(filesystem.create_directory(base / "copy", base), true,
    "create_directory(p, existing) takes attributes from existing")
local missing = base / "no" / "such"
local err = tap.raises({name = "ENOENT", code = 2}, "create_directory without the parent raises ENOENT",
    filesystem.create_directory, missing)
tap.ok(err and err.path1 == missing, "the error's path1 is the path")
tap.ok(err and getmetatable(err.path1) == "filesystem.path", "path1 is a filesystem.path")
tap.is(filesystem.create_directories(missing), true, "create_directories makes the parents")
tap.is(filesystem.create_directories(missing), false,
    "create_directories gives false when all are there")

-- A stale socket file: bind, close, remove, bind again.
do
    local socket_path = base / "stale.sock"
    local sock = ud.unix.datagram_socket.new()
    sock:open()
    sock:bind(socket_path)
    sock:close()
    local again = ud.unix.datagram_socket.new()
    again:open()
    tap.raises({name = "EADDRINUSE"}, "a stale socket file blocks bind", again.bind, again,
        socket_path)
    tap.is(filesystem.remove(socket_path), true, "remove removes a stale socket file")
    tap.is(filesystem.remove(socket_path), false, "remove gives false when there is nothing")
    tap.lives("bind works after the remove", again.bind, again, socket_path)
    again:close()
    tap.is(filesystem.remove(tostring(socket_path)), true, "remove takes a string too")
end
local busy = tap.raises({name = "ENOTEMPTY"}, "remove of a non-empty directory raises",
    filesystem.remove, base / "no")
tap.ok(busy and busy.path1 == base / "no", "the error names the directory as path1")
tap.raises({name = "EINVAL", arg = 1, message = "NUL"},
    "remove refuses a NUL, which would cut the name short", filesystem.remove,
    tostring(base) .. "\0/x")
tap.raises({name = "EINVAL", arg = 1}, "remove(number) raises", filesystem.remove, 1)

do
    local from, to = base / "from", base / "to"
    filesystem.create_directory(from)
    tap.lives("rename renames", filesystem.rename, from, to)
    tap.is(filesystem.remove(from), false, "the old name is gone")
    tap.is(filesystem.remove(to), true, "the new name is there")
    local failed = tap.raises({name = "ENOENT"}, "rename of nothing raises ENOENT",
        filesystem.rename, from, to)
    tap.ok(failed and failed.path1 == from and failed.path2 == to,
        "the error names both paths as path1 and path2")
end

local temp = filesystem.temp_directory_path()
tap.is(getmetatable(temp), "filesystem.path", "temp_directory_path gives a path")
tap.is(tostring(temp), os.getenv("TMPDIR") or "/tmp", "temp_directory_path is $TMPDIR or /tmp")

local cwd = filesystem.current_working_directory()
tap.ok(cwd.is_absolute, "current_working_directory gives an absolute path")
tap.lives("current_working_directory(p) changes it", filesystem.current_working_directory, base)
tap.ok(filesystem.current_working_directory() == base, "the working directory is then p")
filesystem.current_working_directory(cwd)
tap.raises({name = "ENOENT"}, "current_working_directory(missing) raises",
    filesystem.current_working_directory, base / "nowhere")

tap.is(filesystem.remove_all(base / "no"), 2, "remove_all counts what it removed: no and no/such")
tap.is(filesystem.remove_all(base / "no"), 0, "remove_all counts 0 when there is nothing")

-- An abstract name still works with sockets.
do
    local name = path.new("\0unixdgram-lua-path-" .. my_pid())
    local server = ud.unix.datagram_socket.new()
    server:open()
    server:bind(name)
    tap.ok(server.local_path == name, "a socket bound to an abstract path reports it back")
    server:close()
end

ud.run()
tap.done()
