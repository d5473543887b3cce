//
// bindings/lua/src/byte_span.cpp — byte_span, a Go-like slice of bytes.
//
// A span is a window (data, size, capacity) on a storage block: a plain
// userdata in the span's user value 1. Slices share the block; append writes
// in place while the capacity lasts and moves to a new block after that.
// Indexes are 1-based, as everywhere in Lua.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "binding.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace unixdgram::lua::detail {

namespace {

// Large enough for any datagram and then some; a bigger request is a mistake
// better reported than attempted. Where std::size_t has 32 bits, half its
// range: the checks below compute sizes, and twice a capacity, in size_t.
constexpr lua_Integer max_span_size =
    static_cast<lua_Integer>(std::min<std::uintmax_t>(std::uintmax_t(1) << 32, SIZE_MAX / 2));

byte_span_object* to_span(lua_State* L, int index)
{
    return static_cast<byte_span_object*>(test_object(L, index, byte_span_type_name));
}

byte_span_object* check_span(lua_State* L, int arg)
{
    return check<byte_span_object>(L, arg, byte_span_type_name);
}

// Pushes a span of `size` zero bytes in a new block of `capacity`.
byte_span_object* push_new_span(lua_State* L, std::size_t size, std::size_t capacity)
{
    auto* span = new_object<byte_span_object>(L, byte_span_type_name, 1);
    auto* storage = static_cast<unsigned char*>(lua_newuserdatauv(L, capacity, 0));
    std::memset(storage, 0, capacity);
    lua_setiuservalue(L, -2, 1);
    span->data = storage;
    span->size = size;
    span->capacity = capacity;
    return span;
}

// Pushes a span sharing the storage of the span at `index`.
byte_span_object* push_view(lua_State* L, int index, unsigned char* data, std::size_t size,
                            std::size_t capacity)
{
    index = lua_absindex(L, index);
    auto* span = new_object<byte_span_object>(L, byte_span_type_name, 1);
    lua_getiuservalue(L, index, 1);
    lua_setiuservalue(L, -2, 1);
    span->data = data;
    span->size = size;
    span->capacity = capacity;
    return span;
}

int span_new(lua_State* L)
{
    auto size = check_integer(L, 1, 0, max_span_size);
    auto capacity = lua_isnoneornil(L, 2) ? size : check_integer(L, 2, 0, max_span_size);
    if (capacity < size)
        raise_arg_error(L, 2, "capacity %I is less than the length %I", capacity, size);
    push_new_span(L, static_cast<std::size_t>(size), static_cast<std::size_t>(capacity));
    return 1;
}

// byte_span.append([span,] ...) and span:append(...): the pieces (strings or
// spans) after the span's bytes. Room in the capacity is written in place, as
// Go's append does; otherwise the result has a new block.
int span_append(lua_State* L)
{
    int top = lua_gettop(L);
    int first_piece = 1;
    std::size_t base_size = 0;
    std::size_t base_capacity = 0;
    byte_span_object* base = to_span(L, 1);
    if (base || lua_isnil(L, 1)) {
        first_piece = 2;
        if (base) {
            base_size = base->size;
            base_capacity = base->capacity;
        }
    }
    std::size_t added = 0;
    for (int arg = first_piece; arg <= top; ++arg) {
        const_bytes piece = check_bytes(L, arg);
        if (piece.size > static_cast<std::size_t>(max_span_size) - added)
            raise_arg_error(L, arg, "result too large");
        added += piece.size;
    }
    if (added > static_cast<std::size_t>(max_span_size) - base_size)
        raise_arg_error(L, first_piece, "result too large");
    std::size_t size = base_size + added;
    byte_span_object* result;
    if (base && size <= base_capacity) {
        result = push_view(L, 1, base->data, size, base_capacity);
    } else {
        std::size_t capacity =
            std::max(size, std::min<std::size_t>(base_capacity * 2, max_span_size));
        result = push_new_span(L, size, capacity);
        if (base_size > 0)
            std::memcpy(result->data, base->data, base_size);
    }
    // Pieces may overlap the destination (span:append(span)): memmove.
    std::size_t offset = base_size;
    for (int arg = first_piece; arg <= top; ++arg) {
        const_bytes piece = check_bytes(L, arg);
        if (piece.size > 0)
            std::memmove(result->data + offset, piece.data, piece.size);
        offset += piece.size;
    }
    return 1;
}

// span:slice([i[, j]]): bytes i..j, sharing memory. j may reach into the
// capacity beyond the length, as Go's s[i:j] may.
int span_slice(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    auto capacity = static_cast<lua_Integer>(span->capacity);
    lua_Integer first = lua_isnoneornil(L, 2) ? 1 : check_integer(L, 2, 1, capacity + 1);
    lua_Integer last = lua_isnoneornil(L, 3) ? static_cast<lua_Integer>(span->size)
                                             : check_integer(L, 3, 0, capacity);
    if (first > last + 1)
        raise_arg_error(L, 2, "slice start %I is past its end %I", first, last);
    auto offset = static_cast<std::size_t>(first - 1);
    push_view(L, 1, span->data + offset, static_cast<std::size_t>(last - first + 1),
              span->capacity - offset);
    return 1;
}

// span:copy(src): copies what fits; returns the count.
int span_copy(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    const_bytes source = check_bytes(L, 2);
    std::size_t count = std::min(span->size, source.size);
    if (count > 0)
        std::memmove(span->data, source.data, count);
    lua_pushinteger(L, static_cast<lua_Integer>(count));
    return 1;
}

std::size_t check_position(lua_State* L, byte_span_object* span, int arg)
{
    int is_integer = 0;
    lua_Integer position = lua_tointegerx(L, arg, &is_integer);
    if (!is_integer)
        raise_arg_error(L, arg, "byte_span index must be an integer");
    if (position < 1 || static_cast<std::size_t>(position) > span->size)
        raise_arg_error(L, arg, "byte_span index %I out of range [1, %I]", position,
                        static_cast<lua_Integer>(span->size));
    return static_cast<std::size_t>(position - 1);
}

int span_index(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_pushinteger(L, span->data[check_position(L, span, 2)]);
        return 1;
    }
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char* key = lua_tostring(L, 2);
        if (std::strcmp(key, "capacity") == 0) {
            lua_pushinteger(L, static_cast<lua_Integer>(span->capacity));
            return 1;
        }
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(2));
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

int span_newindex(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER)
        raise_arg_error(L, 2, "byte_span has only integer indexes, got %s", type_name(L, 2));
    std::size_t position = check_position(L, span, 2);
    span->data[position] = static_cast<unsigned char>(check_integer(L, 3, 0, 255));
    return 0;
}

int span_len(lua_State* L)
{
    lua_pushinteger(L, static_cast<lua_Integer>(check_span(L, 1)->size));
    return 1;
}

int span_tostring(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    lua_pushlstring(L, reinterpret_cast<const char*>(span->data), span->size);
    return 1;
}

int span_eq(lua_State* L)
{
    byte_span_object* left = to_span(L, 1);
    byte_span_object* right = to_span(L, 2);
    lua_pushboolean(L,
                    left && right && left->size == right->size &&
                        (left->size == 0 || std::memcmp(left->data, right->data, left->size) == 0));
    return 1;
}

} // namespace

void open_byte_span(lua_State* L, binding_state& state)
{
    static const luaL_Reg methods[] = {
        {"append", boundary<span_append>},
        {"slice", boundary<span_slice>},
        {"copy", boundary<span_copy>},
        {nullptr, nullptr},
    };
    static const luaL_Reg metamethods[] = {
        {"__newindex", boundary<span_newindex>},
        {"__len", boundary<span_len>},
        {"__tostring", boundary<span_tostring>},
        {"__eq", boundary<span_eq>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, byte_span_type_name, methods, metamethods, boundary<span_index>);

    static const luaL_Reg functions[] = {
        {"new", boundary<span_new>},
        {"append", boundary<span_append>},
        {nullptr, nullptr},
    };
    lua_newtable(L);
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
}

} // namespace unixdgram::lua::detail
