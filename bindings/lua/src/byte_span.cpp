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
#include "aux.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace unixdgram::lua::detail {

namespace {

// Large enough for any datagram and then some; a bigger request is a mistake
// better reported than attempted. Where std::size_t has 32 bits, half its
// range: the checks below compute sizes in size_t.
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

// Pushes a span on the storage of the span at `index`, starting `offset`
// bytes into its window. The source's data pointer is read after the
// allocation: a finalizer may run there, and nothing taken from Lua is kept
// across it.
byte_span_object* push_view(lua_State* L, int index, std::size_t offset, std::size_t size,
                            std::size_t capacity)
{
    index = lua_absindex(L, index);
    auto* span = new_object<byte_span_object>(L, byte_span_type_name, 1);
    lua_getiuservalue(L, index, 1);
    lua_setiuservalue(L, -2, 1);
    span->data = to_span(L, index)->data + offset;
    span->size = size;
    span->capacity = capacity;
    return span;
}

// Raises an error object of `code` (ERANGE, EPERM: Emilua's codes for bad
// positions and keys) whose message is the formatted text on top of the stack.
[[noreturn]] void raise_with_message(lua_State* L, std::errc code)
{
    push_error(L, std::make_error_code(code), 0, lua_tostring(L, -1));
    lua_error(L);
    std::abort(); // lua_error does not return
}

// A 1-based position argument in [low, high], `fallback` when it is nil.
// Anything but a number is an EINVAL argument error; a position outside the
// range (the fallback too: slice(i) past the length), or a number without an
// integer value, is ERANGE, as Emilua has it.
lua_Integer check_position_arg(lua_State* L, int arg, const char* function, lua_Integer low,
                               lua_Integer high, lua_Integer fallback)
{
    lua_Integer position = fallback;
    if (!lua_isnoneornil(L, arg)) {
        if (lua_type(L, arg) != LUA_TNUMBER)
            raise_type_error(L, arg, "integer");
        int is_integer = 0;
        position = lua_tointegerx(L, arg, &is_integer);
        if (!is_integer) {
            lua_pushfstring(L, "%s: position %f is not an integer", function, lua_tonumber(L, arg));
            raise_with_message(L, std::errc::result_out_of_range);
        }
    }
    if (position < low || position > high) {
        lua_pushfstring(L, "%s: position %I out of range [%I, %I]", function, position, low, high);
        raise_with_message(L, std::errc::result_out_of_range);
    }
    return position;
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

// The bytes of an append piece: a string, a byte_span, or nil (no bytes).
// Raises nothing, so the copy pass can read pieces again after allocating.
bool piece_bytes(lua_State* L, int arg, const_bytes& piece)
{
    if (lua_isnil(L, arg)) {
        piece = {nullptr, 0};
        return true;
    }
    if (lua_type(L, arg) == LUA_TSTRING) {
        std::size_t size = 0;
        const char* data = lua_tolstring(L, arg, &size);
        piece = {data, size};
        return true;
    }
    if (auto* span = to_span(L, arg)) {
        piece = {span->data, span->size};
        return true;
    }
    return false;
}

// The length of `base_size` bytes followed by the pieces at arguments
// first..top; raises on a piece of the wrong type or a result too large.
std::size_t appended_size(lua_State* L, int first, int top, std::size_t base_size)
{
    std::size_t size = base_size;
    for (int arg = first; arg <= top; ++arg) {
        const_bytes piece{};
        if (!piece_bytes(L, arg, piece))
            raise_type_error(L, arg, "string, byte_span or nil");
        if (piece.size > static_cast<std::size_t>(max_span_size) - size)
            raise_arg_error(L, arg, "result too large");
        size += piece.size;
    }
    return size;
}

// Writes the pieces at arguments first..top into `result` from `offset` on.
// Pieces may overlap the destination (span:append(span)): memmove.
void copy_pieces(lua_State* L, int first, int top, byte_span_object* result, std::size_t offset)
{
    for (int arg = first; arg <= top; ++arg) {
        const_bytes piece{};
        piece_bytes(L, arg, piece); // checked by appended_size
        if (piece.size > 0)
            std::memmove(result->data + offset, piece.data, piece.size);
        offset += piece.size;
    }
}

// span:append(...): the span's bytes, then the pieces (strings, spans; nil
// is none). Room in the capacity is written in place, as Go's append does;
// otherwise the result has a new block exactly its length, as Emilua's.
int span_append(lua_State* L)
{
    int top = lua_gettop(L);
    byte_span_object* base = check_span(L, 1);
    if (top == 1) {
        lua_settop(L, 1);
        return 1;
    }
    std::size_t base_size = base->size;
    std::size_t base_capacity = base->capacity;
    std::size_t size = appended_size(L, 2, top, base_size);
    byte_span_object* result;
    if (size == 0) {
        result = push_new_span(L, 0, 0);
    } else if (size <= base_capacity) {
        result = push_view(L, 1, 0, size, base_capacity);
    } else {
        result = push_new_span(L, size, size);
        if (base_size > 0)
            std::memcpy(result->data, to_span(L, 1)->data, base_size);
    }
    copy_pieces(L, 2, top, result, base_size);
    return 1;
}

// byte_span.append(...): the pieces (strings, spans; nil is none) in a new
// block, never sharing the first piece's memory.
int span_append_new(lua_State* L)
{
    int top = lua_gettop(L);
    std::size_t size = appended_size(L, 1, top, 0);
    byte_span_object* result = push_new_span(L, size, size);
    copy_pieces(L, 1, top, result, 0);
    return 1;
}

// span:slice([i[, j]]): bytes i..j, sharing memory. j may reach into the
// capacity beyond the length, as Go's s[i:j] may.
int span_slice(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    auto size = static_cast<lua_Integer>(span->size);
    auto capacity = static_cast<lua_Integer>(span->capacity);
    lua_Integer first = check_position_arg(L, 2, "slice", 1, capacity + 1, 1);
    lua_Integer last = check_position_arg(L, 3, "slice", first - 1, capacity, size);
    auto offset = static_cast<std::size_t>(first - 1);
    push_view(L, 1, offset, static_cast<std::size_t>(last - first + 1), span->capacity - offset);
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

std::string_view view_of(const byte_span_object* span)
{
    return {reinterpret_cast<const char*>(span->data), span->size};
}

std::string_view view_of(const_bytes bytes)
{
    return {static_cast<const char*>(bytes.data), bytes.size};
}

// A pattern argument: a string or a byte_span; nil (none) where allowed.
std::string_view check_pattern(lua_State* L, int arg, bool nil_allowed)
{
    if (nil_allowed && lua_isnoneornil(L, arg))
        return {};
    return view_of(check_bytes(L, arg));
}

int span_starts_with(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    lua_pushboolean(L, view_of(span).starts_with(check_pattern(L, 2, false)));
    return 1;
}

int span_ends_with(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    lua_pushboolean(L, view_of(span).ends_with(check_pattern(L, 2, false)));
    return 1;
}

// The searches, std::string_view's own. Forward ones take a start position
// (1 by default; one past the end finds nothing), backward ones the last
// position a match may begin at (the length by default; 0 finds nothing).
// Each returns the 1-based position found, or nil.
struct find_search {
    static constexpr const char* name = "find";
    static constexpr bool forward = true;
    static std::size_t run(std::string_view s, std::string_view p, std::size_t at)
    {
        return s.find(p, at);
    }
};
struct rfind_search {
    static constexpr const char* name = "rfind";
    static constexpr bool forward = false;
    static std::size_t run(std::string_view s, std::string_view p, std::size_t at)
    {
        return s.rfind(p, at);
    }
};
struct find_first_of_search {
    static constexpr const char* name = "find_first_of";
    static constexpr bool forward = true;
    static std::size_t run(std::string_view s, std::string_view p, std::size_t at)
    {
        return s.find_first_of(p, at);
    }
};
struct find_last_of_search {
    static constexpr const char* name = "find_last_of";
    static constexpr bool forward = false;
    static std::size_t run(std::string_view s, std::string_view p, std::size_t at)
    {
        return s.find_last_of(p, at);
    }
};
struct find_first_not_of_search {
    static constexpr const char* name = "find_first_not_of";
    static constexpr bool forward = true;
    static std::size_t run(std::string_view s, std::string_view p, std::size_t at)
    {
        return s.find_first_not_of(p, at);
    }
};
struct find_last_not_of_search {
    static constexpr const char* name = "find_last_not_of";
    static constexpr bool forward = false;
    static std::size_t run(std::string_view s, std::string_view p, std::size_t at)
    {
        return s.find_last_not_of(p, at);
    }
};

template <typename Search>
int span_search(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    std::string_view pattern = check_pattern(L, 2, true);
    auto size = static_cast<lua_Integer>(span->size);
    lua_Integer position = Search::forward ? check_position_arg(L, 3, Search::name, 1, size + 1, 1)
                                           : check_position_arg(L, 3, Search::name, 0, size, size);
    if (Search::forward ? position > size : position == 0) {
        lua_pushnil(L);
        return 1;
    }
    std::size_t found = Search::run(view_of(span), pattern, static_cast<std::size_t>(position - 1));
    if (found == std::string_view::npos)
        lua_pushnil(L);
    else
        lua_pushinteger(L, static_cast<lua_Integer>(found) + 1);
    return 1;
}

// span:trimmed([chars]): the span without leading and trailing bytes found
// in `chars` (ASCII whitespace by default), sharing memory; an empty span of
// no capacity when nothing is left.
int span_trimmed(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    std::string_view trimmed_bytes =
        lua_isnoneornil(L, 2) ? std::string_view(" \f\n\r\t\v") : check_pattern(L, 2, false);
    std::string_view bytes = view_of(span);
    std::size_t first = bytes.find_first_not_of(trimmed_bytes);
    if (first == std::string_view::npos) {
        push_new_span(L, 0, 0);
        return 1;
    }
    std::size_t last = bytes.find_last_not_of(trimmed_bytes);
    push_view(L, 1, first, last - first + 1, span->capacity - first);
    return 1;
}

// bs[i]: Emilua's codes, ERANGE for an index outside [1, #bs] (a number
// without an integer value included).
std::size_t check_index(lua_State* L, byte_span_object* span, int arg)
{
    int is_integer = 0;
    lua_Integer position = lua_tointegerx(L, arg, &is_integer);
    if (!is_integer) {
        lua_pushfstring(L, "byte_span index %f is not an integer", lua_tonumber(L, arg));
        raise_with_message(L, std::errc::result_out_of_range);
    }
    if (position < 1 || static_cast<std::size_t>(position) > span->size) {
        lua_pushfstring(L, "byte_span index %I out of range [1, %I]", position,
                        static_cast<lua_Integer>(span->size));
        raise_with_message(L, std::errc::result_out_of_range);
    }
    return static_cast<std::size_t>(position - 1);
}

int span_index(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_pushinteger(L, span->data[check_index(L, span, 2)]);
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

// bs[i] = v: EPERM for a key that is not a number, EINVAL for a value that
// is not one, ERANGE for an index or a byte value out of range, as Emilua.
int span_newindex(lua_State* L)
{
    byte_span_object* span = check_span(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER) {
        lua_pushfstring(L, "byte_span has only integer indexes, got %s", type_name(L, 2));
        raise_with_message(L, std::errc::operation_not_permitted);
    }
    if (lua_type(L, 3) != LUA_TNUMBER)
        raise_type_error(L, 3, "integer");
    std::size_t position = check_index(L, span, 2);
    int is_integer = 0;
    lua_Integer value = lua_tointegerx(L, 3, &is_integer);
    if (!is_integer || value < 0 || value > 255) {
        lua_pushfstring(L, "byte value %s out of range [0, 255]", luaL_tolstring(L, 3, nullptr));
        raise_with_message(L, std::errc::result_out_of_range);
    }
    span->data[position] = static_cast<unsigned char>(value);
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
        {"starts_with", boundary<span_starts_with>},
        {"ends_with", boundary<span_ends_with>},
        {"find", boundary<span_search<find_search>>},
        {"rfind", boundary<span_search<rfind_search>>},
        {"find_first_of", boundary<span_search<find_first_of_search>>},
        {"find_last_of", boundary<span_search<find_last_of_search>>},
        {"find_first_not_of", boundary<span_search<find_first_not_of_search>>},
        {"find_last_not_of", boundary<span_search<find_last_not_of_search>>},
        {"trimmed", boundary<span_trimmed>},
        {nullptr, nullptr},
    };
    static const luaL_Reg metamethods[] = {
        {"__newindex", boundary<span_newindex>},
        {"__len", boundary<span_len>},
        {"__tostring", boundary<span_tostring>},
        {"__eq", boundary<span_eq>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, byte_span_type_name, {methods}, metamethods, boundary<span_index>);

    static const luaL_Reg functions[] = {
        {"new", boundary<span_new>},
        {"append", boundary<span_append_new>},
        {nullptr, nullptr},
    };
    lua_newtable(L);
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
}

} // namespace unixdgram::lua::detail
