//
// bindings/lua/src/path.cpp — filesystem.path: the bytes of a socket address.
//
// The bytes are kept exactly, embedded NULs included, so "\0name" is an
// abstract address. They live in a Lua string in the object's user value 1.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "binding.hpp"

#include <cstddef>
#include <sys/un.h>

namespace unixdgram::lua::detail {

namespace {

// Pushes the bytes of a path or string argument; false for anything else.
bool push_bytes(lua_State* L, int index)
{
    if (lua_type(L, index) == LUA_TSTRING) {
        lua_pushvalue(L, index);
        return true;
    }
    if (luaL_testudata(L, index, path_type_name)) {
        lua_getiuservalue(L, index, 1);
        return true;
    }
    return false;
}

int path_new(lua_State* L)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        raise_type_error(L, 1, "string");
    std::size_t length = 0;
    const char* bytes = lua_tolstring(L, 1, &length);
    push_path(L, bytes, length);
    return 1;
}

int path_tostring(lua_State* L)
{
    check<void>(L, 1, path_type_name);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

int path_eq(lua_State* L)
{
    bool equal = luaL_testudata(L, 1, path_type_name) && luaL_testudata(L, 2, path_type_name);
    if (equal) {
        lua_getiuservalue(L, 1, 1);
        lua_getiuservalue(L, 2, 1);
        equal = lua_rawequal(L, -1, -2);
    }
    lua_pushboolean(L, equal);
    return 1;
}

int path_concat(lua_State* L)
{
    if (!push_bytes(L, 1))
        raise_type_error(L, 1, "filesystem.path or string");
    if (!push_bytes(L, 2))
        raise_type_error(L, 2, "filesystem.path or string");
    lua_concat(L, 2);
    std::size_t length = 0;
    const char* bytes = lua_tolstring(L, -1, &length);
    push_path(L, bytes, length);
    return 1;
}

} // namespace

void push_path(lua_State* L, const char* bytes, std::size_t length)
{
    new_object<void*>(L, path_type_name, 1);
    lua_pushlstring(L, bytes, length);
    lua_setiuservalue(L, -2, 1);
}

void push_endpoint_path(lua_State* L, const endpoint& address)
{
    // An endpoint's size counts the path bytes after the family, without a
    // terminating NUL: exact for abstract names, empty for unnamed sockets.
    constexpr std::size_t path_offset = offsetof(sockaddr_un, sun_path);
    const auto* raw = reinterpret_cast<const sockaddr_un*>(address.data());
    std::size_t length = address.size() > path_offset ? address.size() - path_offset : 0;
    push_path(L, raw->sun_path, length);
}

void open_path(lua_State* L, binding_state& state)
{
    static const luaL_Reg metamethods[] = {
        {"__tostring", boundary<path_tostring>},
        {"__eq", boundary<path_eq>},
        {"__concat", boundary<path_concat>},
        {nullptr, nullptr},
    };
    static const luaL_Reg methods[] = {
        {nullptr, nullptr},
    };
    create_metatable(L, state, path_type_name, methods, metamethods);

    static const luaL_Reg functions[] = {
        {"new", boundary<path_new>},
        {nullptr, nullptr},
    };
    lua_newtable(L); // filesystem
    lua_newtable(L); // filesystem.path
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
    lua_setfield(L, -2, "path");
}

} // namespace unixdgram::lua::detail
