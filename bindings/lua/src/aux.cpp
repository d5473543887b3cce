//
// bindings/lua/src/aux.cpp — metatables, the method lookup of each type, and
// argument checks.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "aux.hpp"

#include <cstring>
#include <string_view>

namespace unixdgram::lua::detail {

namespace {

// __index of the types with properties whose objects share one methods
// table (create_metatable): upvalues the state, the methods table and the
// type's index function, which is called here as if it were this closure, so
// it sees the same upvalues. Each method call costs this C call too.
int index_or_raise(lua_State* L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL)
        return 1;
    lua_settop(L, 2);
    auto index = lua_tocfunction(L, lua_upvalueindex(3));
    if (index(L) > 0 && !lua_isnil(L, -1))
        return 1;
    lua_settop(L, 2);
    raise_bad_index(L);
}

// Where an object's own methods table (give_own_methods) holds the object.
const char own_object_key = 0;

// __index of an object's own methods table, for a key that is no method:
// the object's property, from the type's index function (upvalue 2, called
// with the object in place of the table and the state as upvalue 1), else
// bad_index.
int property_or_raise(lua_State* L)
{
    lua_settop(L, 2);
    // Through the debug library it can be called with anything.
    if (lua_type(L, 1) == LUA_TTABLE)
        lua_rawgetp(L, 1, &own_object_key);
    else
        lua_pushnil(L);
    lua_replace(L, 1);
    auto index = lua_tocfunction(L, lua_upvalueindex(2));
    if (index(L) > 0 && !lua_isnil(L, -1))
        return 1;
    lua_settop(L, 2);
    raise_bad_index(L);
}

// __index of the methods table of a type without properties, for a key
// that is no method: bad_index, naming the type (upvalue 2).
int no_such_field(lua_State* L)
{
    raise_bad_index(L, lua_tostring(L, lua_upvalueindex(2)));
}

} // namespace

void remember_metatable(lua_State* L, const char* type)
{
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, type);
    lua_pushlightuserdata(L, const_cast<char*>(type));
    lua_rawseti(L, -2, type_tag_index);
}

int push_metatable(lua_State* L, const char* type)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, type) == LUA_TTABLE)
        return LUA_TTABLE;
    lua_pop(L, 1);
    return luaL_getmetatable(L, type); // a name whose address was not filed
}

void* test_object(lua_State* L, int index, const char* type)
{
    void* object = lua_touserdata(L, index);
    if (!object || !lua_getmetatable(L, index))
        return nullptr;
    // The tag is an array slot of the metatable: read without hashing, where
    // the registry lookup of push_metatable cost more than the rest of a
    // send (measured with callgrind).
    lua_rawgeti(L, -1, type_tag_index);
    bool same = lua_touserdata(L, -1) == type;
    lua_pop(L, 2);
    return same ? object : nullptr;
}

void* check_object(lua_State* L, int arg, const char* type)
{
    if (void* object = test_object(L, arg, type))
        return object;
    const char* function = nullptr;
    // Methods are named without a module prefix (see create_metatable).
    if (arg == 1 && !called_as_method(L, &function) && !std::strchr(function, '.')) {
        const char* actual = lua_isnone(L, 1) ? "no value" : type_name(L, 1);
        raise_arg_error(L, 1, "%s expected, got %s; call methods with ':'", type, actual);
    }
    raise_type_error(L, arg, type);
}

lua_Integer check_integer(lua_State* L, int arg)
{
    if (lua_type(L, arg) != LUA_TNUMBER)
        raise_type_error(L, arg, "integer");
    int is_integer = 0;
    lua_Integer value = lua_tointegerx(L, arg, &is_integer);
    if (!is_integer)
        raise_arg_error(L, arg, "number has no integer representation");
    return value;
}

lua_Integer check_integer(lua_State* L, int arg, lua_Integer low, lua_Integer high)
{
    lua_Integer value = check_integer(L, arg);
    if (value < low || value > high)
        raise_arg_error(L, arg, "%I out of range [%I, %I]", value, low, high);
    return value;
}

const_bytes check_bytes(lua_State* L, int arg)
{
    if (lua_type(L, arg) == LUA_TSTRING) {
        std::size_t size = 0;
        const char* data = lua_tolstring(L, arg, &size);
        return {data, size};
    }
    if (auto* span = static_cast<byte_span_object*>(test_object(L, arg, byte_span_type_name)))
        return {span->data, span->size};
    raise_type_error(L, arg, "string or byte_span");
}

std::string_view check_socket_path(lua_State* L, int arg)
{
    std::size_t length = 0;
    const char* bytes = nullptr;
    if (lua_type(L, arg) == LUA_TSTRING) {
        bytes = lua_tolstring(L, arg, &length);
    } else if (test_object(L, arg, path_type_name)) {
        lua_getiuservalue(L, arg, 1);
        bytes = lua_tolstring(L, -1, &length);
        lua_pop(L, 1); // the path object keeps the string alive
    } else {
        raise_type_error(L, arg, "filesystem.path or string");
    }
    // A leading NUL names an abstract socket, whose name is length-exact; any
    // other path ends at its first NUL, so one inside it would be cut short.
    if (length > 0 && bytes[0] != '\0' && std::memchr(bytes, '\0', length) != nullptr)
        raise_arg_error(L, arg, "path contains a NUL byte");
    return {bytes, length};
}

void create_metatable(lua_State* L, binding_state& state, const char* type,
                      std::initializer_list<const luaL_Reg*> methods, const luaL_Reg* metamethods,
                      lua_CFunction index, method_lookup lookup)
{
    luaL_newmetatable(L, type);
    const int metatable = lua_gettop(L);
    remember_metatable(L, type);
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, metamethods, 1);
    lua_pushfstring(L, "%s.", type);
    name_functions(L, metatable, lua_tostring(L, -1), 0);
    lua_pop(L, 1);
    lua_pushstring(L, type);
    lua_setfield(L, metatable, "__metatable");
    if (methods.size() == 0) {
        lua_pop(L, 1);
        return;
    }
    lua_Integer method_count = 0;
    lua_newtable(L);
    const int methods_table = lua_gettop(L);
    for (const luaL_Reg* list : methods) {
        lua_pushlightuserdata(L, &state);
        luaL_setfuncs(L, list, 1);
        for (const luaL_Reg* method = list; method->name; ++method)
            ++method_count;
    }
    name_functions(L, methods_table, "", 0);
    if (!index || lookup == method_lookup::own_table) {
        // The methods table's own __index, for the keys that are no method:
        // the properties of an object's copy, or bad_index. Its metatable is
        // as closed as the object's.
        lua_createtable(L, 0, 2);
        lua_pushstring(L, type);
        lua_setfield(L, -2, "__metatable");
        lua_pushlightuserdata(L, &state);
        if (index)
            lua_pushcfunction(L, index);
        else
            lua_pushstring(L, type);
        lua_pushcclosure(L, index ? boundary<property_or_raise> : boundary<no_such_field>, 2);
        lua_pushfstring(L, "%s.__index", type);
        name_function(L, -2);
        lua_setfield(L, -2, "__index");
    }
    if (!index) {
        // No property needs the object: __index is the methods table itself.
        lua_setmetatable(L, methods_table);
        lua_setfield(L, metatable, "__index");
        lua_pop(L, 1);
        return;
    }
    if (lookup == method_lookup::own_table) {
        // No object goes without its copy: these are what give_own_methods
        // copies, and the copy's metatable.
        lua_rawseti(L, metatable, own_properties_index);
        lua_rawseti(L, metatable, own_methods_index);
        lua_pushinteger(L, method_count);
        lua_rawseti(L, metatable, own_method_count_index);
        lua_pop(L, 1);
        return;
    }
    // Methods and properties of objects that share the methods table: one C
    // __index for both.
    lua_pushlightuserdata(L, &state);
    lua_insert(L, methods_table);
    lua_pushcfunction(L, index);
    lua_pushcclosure(L, boundary<index_or_raise>, 3);
    lua_pushfstring(L, "%s.__index", type);
    name_function(L, -2);
    lua_setfield(L, metatable, "__index");
    lua_pop(L, 1);
}

namespace {

// Sets every entry of the table at `from` in the table at `to`, raw.
void copy_entries(lua_State* L, int from, int to)
{
    lua_pushnil(L);
    while (lua_next(L, from) != 0) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, to);
    }
}

} // namespace

void give_own_methods(lua_State* L)
{
    const int object = lua_gettop(L);
    lua_getmetatable(L, object);
    const int shared = lua_gettop(L);
    lua_rawgeti(L, shared, own_methods_index);
    const int methods_table = lua_gettop(L);
    lua_rawgeti(L, shared, own_method_count_index);
    const auto method_count = static_cast<int>(lua_tointeger(L, -1));
    lua_pop(L, 1);
    lua_createtable(L, 0, method_count + 1);
    const int own = lua_gettop(L);
    copy_entries(L, methods_table, own);
    lua_pushvalue(L, object);
    lua_rawsetp(L, own, &own_object_key);
    lua_rawgeti(L, shared, own_properties_index);
    lua_setmetatable(L, own);
    // The object's metatable: the shared one's entries, __index its methods.
    lua_createtable(L, static_cast<int>(own_method_count_index), 8);
    const int own_metatable = lua_gettop(L);
    copy_entries(L, shared, own_metatable);
    lua_pushvalue(L, own);
    lua_setfield(L, own_metatable, "__index");
    lua_setmetatable(L, object);
    lua_settop(L, object);
}

} // namespace unixdgram::lua::detail
