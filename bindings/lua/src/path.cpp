//
// bindings/lua/src/path.cpp — filesystem.path and the filesystem functions a
// named-socket user needs, as Emilua 0.4 names them.
//
// A path's bytes are kept exactly, embedded NULs included, so "\0name" is an
// abstract address. They live in a Lua string in the object's user value 1.
// The algebra is std::filesystem::path's: each operation builds paths from
// the bytes and pushes its result's bytes in protected mode, so no error
// longjmps past the C++ objects alive then.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "aux.hpp"

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <sys/un.h>
#include <type_traits>

namespace unixdgram::lua::detail {

namespace {

namespace fs = std::filesystem;

// The bytes of the path object at `index`; its user value keeps them alive
// and is never replaced.
std::string_view stored_bytes(lua_State* L, int index)
{
    lua_getiuservalue(L, index, 1);
    std::size_t length = 0;
    const char* bytes = lua_tolstring(L, -1, &length);
    lua_pop(L, 1);
    return {bytes, length};
}

bool is_path(lua_State* L, int index)
{
    return test_object(L, index, path_type_name) != nullptr;
}

// The bytes of a filesystem.path or string argument.
std::string_view check_path_arg(lua_State* L, int arg)
{
    if (lua_type(L, arg) == LUA_TSTRING) {
        std::size_t length = 0;
        const char* bytes = lua_tolstring(L, arg, &length);
        return {bytes, length};
    }
    if (is_path(L, arg))
        return stored_bytes(L, arg);
    raise_type_error(L, arg, "filesystem.path or string");
}

std::string_view check_self(lua_State* L)
{
    check<void>(L, 1, path_type_name);
    return stored_bytes(L, 1);
}

// Replaces the string on top of the stack by a path object holding it.
void wrap_as_path(lua_State* L)
{
    new_object<void*>(L, path_type_name, 1);
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, 1);
}

int push_string_unprotected(lua_State* L)
{
    const auto* bytes = static_cast<const fs::path::string_type*>(lua_touserdata(L, 1));
    lua_pushlstring(L, bytes->data(), bytes->size());
    return 1;
}

// Pushes `bytes` as a Lua string; or, returning false, the error raised
// while allocating it (out of memory: finalizers' errors are only warnings).
bool push_string_protected(lua_State* L, const fs::path::string_type& bytes)
{
    lua_pushcfunction(L, push_string_unprotected); // light C functions allocate nothing
    lua_pushlightuserdata(L, const_cast<fs::path::string_type*>(&bytes));
    return lua_pcall(L, 1, 1, 0) == LUA_OK;
}

// Runs compute(result) and pushes the result as a path (or, as_string, as a
// string); `compute` captures views only. A compute that returns bool says
// whether there is a result: none pushes nothing and returns 0.
template <typename Compute>
int push_computed(lua_State* L, Compute compute, bool as_string = false)
{
    bool pushed = false;
    bool failed = false;
    std::error_code ec = guarded([&] {
        fs::path result;
        if constexpr (std::is_same_v<decltype(compute(result)), bool>) {
            if (!compute(result))
                return;
        } else {
            compute(result);
        }
        pushed = true;
        failed = !push_string_protected(L, result.native());
    }); // the result is destroyed here, before anything raises
    if (ec)
        raise_error(L, ec);
    if (failed)
        lua_error(L); // what the protected push raised
    if (!pushed)
        return 0;
    if (!as_string)
        wrap_as_path(L);
    return 1;
}

// self:f(): a path computed from self alone.
template <auto F>
int unary(lua_State* L)
{
    std::string_view self = check_self(L);
    return push_computed(L, [self](fs::path& out) { out = F(fs::path(self)); });
}

// self:f(other): other is a path or a string (nil too, where nil_allowed:
// an empty path).
template <auto F, bool nil_allowed = false>
int binary(lua_State* L)
{
    std::string_view self = check_self(L);
    std::string_view other =
        nil_allowed && lua_isnoneornil(L, 2) ? std::string_view() : check_path_arg(L, 2);
    return push_computed(
        L, [self, other](fs::path& out) { out = F(fs::path(self), fs::path(other)); });
}

// a op b, for the operators: either side a path or a string.
template <auto F>
int operands(lua_State* L)
{
    std::string_view left = check_path_arg(L, 1);
    std::string_view right = check_path_arg(L, 2);
    return push_computed(
        L, [left, right](fs::path& out) { out = F(fs::path(left), fs::path(right)); });
}

int path_new(lua_State* L)
{
    if (!lua_isnoneornil(L, 1) && lua_type(L, 1) != LUA_TSTRING)
        raise_type_error(L, 1, "string or nil");
    lua_settop(L, 1);
    if (lua_isnil(L, 1))
        lua_pushliteral(L, "");
    wrap_as_path(L);
    return 1;
}

int path_from_generic(lua_State* L)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        raise_type_error(L, 1, "string");
    std::size_t length = 0;
    const char* bytes = lua_tolstring(L, 1, &length);
    std::string_view generic(bytes, length);
    return push_computed(L, [generic](fs::path& out) {
        out = fs::path(generic.begin(), generic.end(), fs::path::generic_format);
    });
}

int path_to_generic(lua_State* L)
{
    std::string_view self = check_self(L);
    return push_computed(
        L, [self](fs::path& out) { out = fs::path(self).generic_string(); }, true);
}

// path:iterator(): a function giving the parts (root name, root directory,
// each file name, an empty one after a trailing separator), then nothing.
int path_next(lua_State* L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    std::string_view self = stored_bytes(L, -1);
    lua_Integer position = lua_tointeger(L, lua_upvalueindex(2));
    int results = push_computed(L, [self, position](fs::path& out) {
        fs::path whole(self);
        auto part = whole.begin();
        for (lua_Integer skipped = 0; skipped < position && part != whole.end(); ++skipped)
            ++part;
        if (part == whole.end())
            return false;
        out = *part;
        return true;
    });
    if (results > 0) {
        lua_pushinteger(L, position + 1);
        lua_replace(L, lua_upvalueindex(2));
    }
    return results;
}

int path_iterator(lua_State* L)
{
    check_self(L);
    lua_settop(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, boundary<path_next>, 2);
    return 1;
}

// <0, 0, >0. Abstract names (a leading NUL) compare as bytes: they name no
// file, and path algebra would equate names the kernel keeps apart
// ("\0a//b" and "\0a/b").
int compare_paths(lua_State* L, std::string_view left, std::string_view right)
{
    bool abstract = (!left.empty() && left[0] == '\0') || (!right.empty() && right[0] == '\0');
    if (abstract)
        return left.compare(right);
    int order = 0;
    if (std::error_code ec = guarded([&] { order = fs::path(left).compare(fs::path(right)); }))
        raise_error(L, ec);
    return order;
}

int path_eq(lua_State* L)
{
    bool equal = is_path(L, 1) && is_path(L, 2) &&
                 compare_paths(L, stored_bytes(L, 1), stored_bytes(L, 2)) == 0;
    lua_pushboolean(L, equal);
    return 1;
}

int path_lt(lua_State* L)
{
    std::string_view left = check_path_arg(L, 1);
    std::string_view right = check_path_arg(L, 2);
    lua_pushboolean(L, compare_paths(L, left, right) < 0);
    return 1;
}

int path_le(lua_State* L)
{
    std::string_view left = check_path_arg(L, 1);
    std::string_view right = check_path_arg(L, 2);
    lua_pushboolean(L, compare_paths(L, left, right) <= 0);
    return 1;
}

int path_tostring(lua_State* L)
{
    check<void>(L, 1, path_type_name);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

// The properties: booleans, as Emilua has them (path.empty, not path:empty()).
struct path_property {
    const char* name;
    bool (*test)(const fs::path&);
};

constexpr path_property path_properties[] = {
    {"empty", [](const fs::path& p) { return p.empty(); }},
    {"has_root_path", [](const fs::path& p) { return p.has_root_path(); }},
    {"has_root_name", [](const fs::path& p) { return p.has_root_name(); }},
    {"has_root_directory", [](const fs::path& p) { return p.has_root_directory(); }},
    {"has_relative_path", [](const fs::path& p) { return p.has_relative_path(); }},
    {"has_parent_path", [](const fs::path& p) { return p.has_parent_path(); }},
    {"has_filename", [](const fs::path& p) { return p.has_filename(); }},
    {"has_stem", [](const fs::path& p) { return p.has_stem(); }},
    {"has_extension", [](const fs::path& p) { return p.has_extension(); }},
    {"is_absolute", [](const fs::path& p) { return p.is_absolute(); }},
    {"is_relative", [](const fs::path& p) { return p.is_relative(); }},
};

int path_index(lua_State* L)
{
    std::string_view self = check_self(L);
    // Called by __index for a key that is no method (see create_metatable).
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    const char* key = lua_tostring(L, 2);
    for (const path_property& property : path_properties) {
        if (std::strcmp(key, property.name) != 0)
            continue;
        bool value = false;
        if (std::error_code ec = guarded([&] { value = property.test(fs::path(self)); }))
            raise_error(L, ec);
        lua_pushboolean(L, value);
        return 1;
    }
    return 0; // no such property: bad_index
}

// The filesystem functions ---------------------------------------------------------

// A path argument of a function that reaches the file system. A NUL would cut
// the name the kernel sees short, so it would act on another file.
std::string_view check_file_path(lua_State* L, int arg)
{
    std::string_view bytes = check_path_arg(L, arg);
    if (bytes.find('\0') != std::string_view::npos)
        raise_arg_error(L, arg, "path contains a NUL byte");
    return bytes;
}

// Raises `ec` with the paths at arguments first..last as the error's path1,
// path2 fields (paths, as Emilua gives them), when there are any.
[[noreturn]] void raise_file_error(lua_State* L, std::error_code ec, int first = 0, int last = 0)
{
    push_error(L, ec);
    // Error objects are tables today; should they become another type, the
    // paths are left out rather than set through a metamethod that may raise.
    bool is_table = lua_type(L, -1) == LUA_TTABLE;
    for (int arg = first; is_table && arg >= 1 && arg <= last; ++arg) {
        lua_pushstring(L, arg == first ? "path1" : "path2");
        lua_pushvalue(L, arg);
        if (!is_path(L, -1))
            wrap_as_path(L);
        lua_rawset(L, -3);
    }
    lua_error(L);
    std::abort(); // lua_error does not return
}

// filesystem.remove(p): true when p was removed, false when it did not exist.
int fs_remove(lua_State* L)
{
    std::string_view target = check_file_path(L, 1);
    bool removed = false;
    std::error_code failure;
    if (std::error_code ec = guarded([&] { removed = fs::remove(fs::path(target), failure); }))
        raise_error(L, ec);
    if (failure)
        raise_file_error(L, failure, 1, 1);
    lua_pushboolean(L, removed);
    return 1;
}

// filesystem.remove_all(p): the count of files and directories removed.
int fs_remove_all(lua_State* L)
{
    std::string_view target = check_file_path(L, 1);
    std::uintmax_t removed = 0;
    std::error_code failure;
    if (std::error_code ec = guarded([&] { removed = fs::remove_all(fs::path(target), failure); }))
        raise_error(L, ec);
    if (failure)
        raise_file_error(L, failure, 1, 1);
    lua_pushinteger(L, static_cast<lua_Integer>(removed));
    return 1;
}

// filesystem.create_directory(p[, existing_p]): true when it was made, false
// when a directory was already there; existing_p lends its attributes.
int fs_create_directory(lua_State* L)
{
    std::string_view target = check_file_path(L, 1);
    bool has_model = !lua_isnoneornil(L, 2);
    std::string_view model = has_model ? check_file_path(L, 2) : std::string_view();
    bool created = false;
    std::error_code failure;
    if (std::error_code ec = guarded([&] {
            created = has_model ? fs::create_directory(fs::path(target), fs::path(model), failure)
                                : fs::create_directory(fs::path(target), failure);
        }))
        raise_error(L, ec);
    if (failure)
        raise_file_error(L, failure, 1, has_model ? 2 : 1);
    lua_pushboolean(L, created);
    return 1;
}

// filesystem.create_directories(p): true when any directory was made.
int fs_create_directories(lua_State* L)
{
    std::string_view target = check_file_path(L, 1);
    bool created = false;
    std::error_code failure;
    if (std::error_code ec =
            guarded([&] { created = fs::create_directories(fs::path(target), failure); }))
        raise_error(L, ec);
    if (failure)
        raise_file_error(L, failure, 1, 1);
    lua_pushboolean(L, created);
    return 1;
}

// filesystem.rename(from, to)
int fs_rename(lua_State* L)
{
    std::string_view from = check_file_path(L, 1);
    std::string_view to = check_file_path(L, 2);
    std::error_code failure;
    if (std::error_code ec = guarded([&] { fs::rename(fs::path(from), fs::path(to), failure); }))
        raise_error(L, ec);
    if (failure)
        raise_file_error(L, failure, 1, 2);
    return 0;
}

// filesystem.temp_directory_path(): $TMPDIR (and the like) or /tmp.
int fs_temp_directory_path(lua_State* L)
{
    std::error_code failure;
    int results =
        push_computed(L, [&failure](fs::path& out) { out = fs::temp_directory_path(failure); });
    if (failure)
        raise_file_error(L, failure);
    return results;
}

// filesystem.current_working_directory(): the working directory;
// current_working_directory(p) changes it.
int fs_current_working_directory(lua_State* L)
{
    std::error_code failure;
    if (lua_isnoneornil(L, 1)) {
        int results =
            push_computed(L, [&failure](fs::path& out) { out = fs::current_path(failure); });
        if (failure)
            raise_file_error(L, failure);
        return results;
    }
    std::string_view target = check_file_path(L, 1);
    if (std::error_code ec = guarded([&] { fs::current_path(fs::path(target), failure); }))
        raise_error(L, ec);
    if (failure)
        raise_file_error(L, failure, 1, 1);
    return 0;
}

} // namespace

void push_path(lua_State* L, const char* bytes, std::size_t length)
{
    lua_pushlstring(L, bytes, length);
    wrap_as_path(L);
}

void open_path(lua_State* L, binding_state& state)
{
    using path = const fs::path&;
    static const luaL_Reg metamethods[] = {
        {"__tostring", boundary<path_tostring>},
        {"__eq", boundary<path_eq>},
        {"__lt", boundary<path_lt>},
        {"__le", boundary<path_le>},
        {"__div", boundary<operands<[](path a, path b) { return a / b; }>>},
        {"__concat", boundary<operands<[](path a, path b) { return fs::path(a) += b; }>>},
        {nullptr, nullptr},
    };
    static const luaL_Reg methods[] = {
        {"to_generic", boundary<path_to_generic>},
        {"iterator", boundary<path_iterator>},
        {"make_preferred", boundary<unary<[](path p) { return fs::path(p).make_preferred(); }>>},
        {"remove_filename", boundary<unary<[](path p) { return fs::path(p).remove_filename(); }>>},
        {"replace_filename",
         boundary<binary<[](path p, path name) { return fs::path(p).replace_filename(name); }>>},
        {"replace_extension",
         boundary<
             binary<[](path p, path extension) { return fs::path(p).replace_extension(extension); },
                    true>>},
        {"lexically_normal", boundary<unary<[](path p) { return p.lexically_normal(); }>>},
        {"lexically_relative",
         boundary<binary<[](path p, path base) { return p.lexically_relative(base); }>>},
        {"lexically_proximate",
         boundary<binary<[](path p, path base) { return p.lexically_proximate(base); }>>},
        {"root_name", boundary<unary<[](path p) { return p.root_name(); }>>},
        {"root_directory", boundary<unary<[](path p) { return p.root_directory(); }>>},
        {"root_path", boundary<unary<[](path p) { return p.root_path(); }>>},
        {"relative_path", boundary<unary<[](path p) { return p.relative_path(); }>>},
        {"parent_path", boundary<unary<[](path p) { return p.parent_path(); }>>},
        {"filename", boundary<unary<[](path p) { return p.filename(); }>>},
        {"stem", boundary<unary<[](path p) { return p.stem(); }>>},
        {"extension", boundary<unary<[](path p) { return p.extension(); }>>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, path_type_name, {methods}, metamethods, boundary<path_index>);

    static const luaL_Reg path_functions[] = {
        {"new", boundary<path_new>},
        {"from_generic", boundary<path_from_generic>},
        {nullptr, nullptr},
    };
    static const luaL_Reg filesystem_functions[] = {
        {"remove", boundary<fs_remove>},
        {"remove_all", boundary<fs_remove_all>},
        {"create_directory", boundary<fs_create_directory>},
        {"create_directories", boundary<fs_create_directories>},
        {"rename", boundary<fs_rename>},
        {"temp_directory_path", boundary<fs_temp_directory_path>},
        {"current_working_directory", boundary<fs_current_working_directory>},
        {nullptr, nullptr},
    };
    lua_newtable(L); // filesystem
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, filesystem_functions, 1);
    lua_newtable(L); // filesystem.path
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, path_functions, 1);
    const char separator = fs::path::preferred_separator;
    lua_pushlstring(L, &separator, 1);
    lua_setfield(L, -2, "preferred_separator");
    lua_setfield(L, -2, "path");
}

} // namespace unixdgram::lua::detail
