//
// bindings/lua/src/error.cpp — error objects and argument checks.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "binding.hpp"

#include <asio/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

namespace unixdgram::lua::detail {

namespace {

class binding_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "unixdgram.lua"; }

    std::string message(int value) const override
    {
        switch (static_cast<binding_error>(value)) {
        case binding_error::interrupted:
            return "fiber interrupted";
        case binding_error::deadlock:
            return "waiting for fibers that can never finish";
        case binding_error::cannot_block:
            return "cannot block here: not in a fiber, and the executor's context is not an "
                   "io_context to run";
        case binding_error::internal:
            return "internal error: unexpected C++ exception";
        }
        return "unknown unixdgram.lua error";
    }
};

// An error's words, copied out of C++ strings before anything can raise.
struct error_words {
    char message[256];
    const char* name;
    const char* category;
};

const char* errno_name(int value) noexcept
{
    const char* name = ::strerrorname_np(value);
    return name ? name : "unknown";
}

const char* enum_name(const std::error_code& ec) noexcept
{
    int value = ec.value();
    if (ec.category() == unixdgram::error_category()) {
        switch (static_cast<unixdgram::error>(value)) {
        case unixdgram::error::too_many_fds:
            return "too_many_fds";
        case unixdgram::error::message_truncated:
            return "message_truncated";
        case unixdgram::error::not_a_unix_datagram_socket:
            return "not_a_unix_datagram_socket";
        }
    } else if (ec.category() == binding_category()) {
        switch (static_cast<binding_error>(value)) {
        case binding_error::interrupted:
            return "interrupted";
        case binding_error::deadlock:
            return "deadlock";
        case binding_error::cannot_block:
            return "cannot_block";
        case binding_error::internal:
            return "internal";
        }
    } else if (ec.category() == asio::error::get_misc_category()) {
        switch (value) {
        case asio::error::already_open:
            return "already_open";
        case asio::error::eof:
            return "eof";
        case asio::error::not_found:
            return "not_found";
        case asio::error::fd_set_failure:
            return "fd_set_failure";
        }
    }
    return "unknown";
}

error_words describe(const std::error_code& ec) noexcept
{
    error_words words;
    bool is_errno = ec.category() == std::system_category() ||
                    ec.category() == std::generic_category() ||
                    ec.category() == asio::error::get_system_category();
    // These categories all hold errno values (Asio's own is "asio.system");
    // one name keeps them one thing to test.
    words.category = is_errno ? "system" : ec.category().name();
    words.name = is_errno ? errno_name(ec.value()) : enum_name(ec);
    try {
        std::string text = ec.message();
        std::size_t length = std::min(text.size(), sizeof(words.message) - 1);
        std::memcpy(words.message, text.data(), length);
        words.message[length] = '\0';
    } catch (...) {
        std::strcpy(words.message, "unknown error");
    }
    return words;
}

int error_tostring(lua_State* L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        raise_type_error(L, 1, "unixdgram.error");
    lua_getfield(L, 1, "message");
    if (lua_type(L, -1) != LUA_TSTRING)
        lua_pushliteral(L, "unixdgram error");
    return 1;
}

// Where the binding files the name of each function it registers (a table
// from function to name), so that an error names the function however it was
// called: as a method, through pcall, from a fiber, by a local of another name.
constexpr const char* function_names_key = "unixdgram.function_names";

// The called function's name, and whether it was called as a method. Nothing
// here allocates: the name table and its strings exist already.
bool called_as_method(lua_State* L, const char** name)
{
    lua_Debug info;
    *name = "unixdgram function";
    if (!lua_getstack(L, 0, &info))
        return false;
    lua_getinfo(L, "nf", &info); // pushes the function
    if (lua_getfield(L, LUA_REGISTRYINDEX, function_names_key) == LUA_TTABLE) {
        lua_pushvalue(L, -2);
        if (lua_rawget(L, -2) == LUA_TSTRING)
            *name = lua_tostring(L, -1); // the name table keeps it alive
        else if (info.name)
            *name = info.name;
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return info.namewhat && std::strcmp(info.namewhat, "method") == 0;
}

// Appends to a text of bounded capacity, counting what does not fit.
struct bounded_text {
    char* data;
    std::size_t capacity; // bytes data holds, the terminating NUL included
    std::size_t length = 0;

    void append(const char* bytes, std::size_t count) noexcept
    {
        if (length < capacity)
            std::memcpy(data + length, bytes, std::min(count, capacity - 1 - length));
        length += count;
    }

    void append(const char* text) noexcept { append(text, std::strlen(text)); }
};

// lua_pushvfstring's conversions (%% %s %c %d %I %f %p %U, with its number
// formats) written into `out`, NUL-terminated and cut to `capacity` bytes;
// returns the length of the whole text. Nothing here raises, so the caller's
// va_list can end before Lua, which may raise, sees the text.
std::size_t format_lua(char* out, std::size_t capacity, const char* format, va_list args) noexcept
{
    bounded_text text{out, capacity};
    char number[64];
    for (const char* at = format; *at; ++at) {
        const char* percent = std::strchr(at, '%');
        if (!percent) {
            text.append(at);
            break;
        }
        text.append(at, static_cast<std::size_t>(percent - at));
        at = percent + 1;
        switch (*at) {
        case 's': {
            const char* string = va_arg(args, const char*);
            text.append(string ? string : "(null)");
            break;
        }
        case 'c': {
            char character = static_cast<char>(va_arg(args, int));
            text.append(&character, 1);
            break;
        }
        case 'd':
            std::snprintf(number, sizeof number, "%d", va_arg(args, int));
            text.append(number);
            break;
        case 'I':
            std::snprintf(number, sizeof number, LUA_INTEGER_FMT, va_arg(args, LUAI_UACINT));
            text.append(number);
            break;
        case 'f':
            std::snprintf(number, sizeof number, LUA_NUMBER_FMT, va_arg(args, LUAI_UACNUMBER));
            text.append(number);
            if (number[std::strspn(number, "-0123456789")] == '\0')
                text.append(".0"); // as Lua writes a float that looks like an integer
            break;
        case 'p':
            std::snprintf(number, sizeof number, "%p", va_arg(args, void*));
            text.append(number);
            break;
        case 'U': {
            char utf8[8];
            int length = 0;
            auto code = static_cast<unsigned long>(va_arg(args, long));
            if (code < 0x80) {
                utf8[length++] = static_cast<char>(code);
            } else {
                // Lua's luaO_utf8esc: continuation bytes from the end, then the lead.
                char reversed[8];
                unsigned long lead_limit = 0x3f;
                int count = 0;
                do {
                    reversed[count++] = static_cast<char>(0x80 | (code & 0x3f));
                    code >>= 6;
                    lead_limit >>= 1;
                } while (code > lead_limit);
                utf8[length++] = static_cast<char>((~lead_limit << 1) | code);
                while (count > 0)
                    utf8[length++] = reversed[--count];
            }
            text.append(utf8, static_cast<std::size_t>(length));
            break;
        }
        case '%':
            text.append("%", 1);
            break;
        case '\0':
            text.append("%", 1);
            --at; // the loop's ++at lands on the NUL
            break;
        default:
            text.append(percent, 2);
            break;
        }
    }
    if (capacity > 0)
        out[std::min(text.length, capacity - 1)] = '\0';
    return text.length;
}

} // namespace

const std::error_category& binding_category() noexcept
{
    static const binding_category_impl category;
    return category;
}

void push_error(lua_State* L, std::error_code ec, int arg, const char* message)
{
    error_words words = describe(ec);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, ec.value());
    lua_setfield(L, -2, "code");
    lua_pushstring(L, words.name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, words.category);
    lua_setfield(L, -2, "category");
    lua_pushstring(L, message ? message : words.message);
    lua_setfield(L, -2, "message");
    if (arg > 0) {
        lua_pushinteger(L, arg);
        lua_setfield(L, -2, "arg");
    }
    luaL_setmetatable(L, error_type_name);
}

void raise_error(lua_State* L, std::error_code ec)
{
    push_error(L, ec);
    lua_error(L);
    std::abort(); // lua_error does not return
}

void raise_arg_error_text(lua_State* L, std::error_code ec, int arg, const char* detail)
{
    const char* function = nullptr;
    int shown = arg;
    if (called_as_method(L, &function))
        --shown;
    const char* message =
        shown == 0 ? lua_pushfstring(L, "calling '%s' on bad self (%s)", function, detail)
                   : lua_pushfstring(L, "bad argument #%d to '%s' (%s)", shown, function, detail);
    push_error(L, ec, shown == 0 ? arg : shown, message);
    lua_error(L);
    std::abort();
}

void raise_arg_error(lua_State* L, int arg, const char* format, ...)
{
    // lua_pushvfstring could raise between va_start and va_end; the text is
    // made here instead, into a Lua block where the stack buffer is too small.
    char small[256];
    va_list args;
    va_start(args, format);
    std::size_t length = format_lua(small, sizeof small, format, args);
    va_end(args);
    char* text = small;
    if (length >= sizeof small) {
        text = static_cast<char*>(lua_newuserdatauv(L, length + 1, 0));
        va_start(args, format);
        format_lua(text, length + 1, format, args);
        va_end(args);
    }
    raise_arg_error_text(L, std::make_error_code(std::errc::invalid_argument), arg,
                         lua_pushlstring(L, text, length));
}

namespace {

void push_function_names(lua_State* L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, function_names_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, function_names_key);
    }
}

// Names the function at `function` with the string on top, which it pops.
void name_function(lua_State* L, int function)
{
    function = lua_absindex(L, function);
    push_function_names(L);
    lua_pushvalue(L, function);
    if (lua_rawget(L, -2) == LUA_TNIL) { // the first name given is kept
        lua_pushvalue(L, function);
        lua_pushvalue(L, -4);
        lua_rawset(L, -4);
    }
    lua_pop(L, 3);
}

} // namespace

void name_functions(lua_State* L, int table, const char* prefix, int depth)
{
    table = lua_absindex(L, table);
    lua_pushnil(L);
    while (lua_next(L, table) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            if (lua_type(L, -1) == LUA_TFUNCTION) {
                lua_pushfstring(L, "%s%s", prefix, lua_tostring(L, -2));
                name_function(L, -2);
            } else if (lua_type(L, -1) == LUA_TTABLE && depth > 0) {
                // Module tables within module tables: unix.datagram_socket.new.
                lua_pushfstring(L, "%s%s.", prefix, lua_tostring(L, -2));
                name_functions(L, -2, lua_tostring(L, -1), depth - 1);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
}

const char* type_name(lua_State* L, int index)
{
    if (luaL_getmetafield(L, index, "__name") == LUA_TSTRING) {
        const char* name = lua_tostring(L, -1);
        lua_pop(L, 1); // the metatable keeps the string alive
        return name;
    }
    if (lua_type(L, index) == LUA_TLIGHTUSERDATA)
        return "light userdata";
    return luaL_typename(L, index);
}

void raise_type_error(lua_State* L, int arg, const char* expected)
{
    const char* actual = lua_isnone(L, arg) ? "no value" : type_name(L, arg);
    raise_arg_error(L, arg, "%s expected, got %s", expected, actual);
}

void remember_metatable(lua_State* L, const char* type)
{
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, type);
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
    push_metatable(L, type);
    bool same = lua_rawequal(L, -1, -2);
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

lua_Integer check_integer(lua_State* L, int arg, lua_Integer low, lua_Integer high)
{
    if (lua_type(L, arg) != LUA_TNUMBER)
        raise_type_error(L, arg, "integer");
    int is_integer = 0;
    lua_Integer value = lua_tointegerx(L, arg, &is_integer);
    if (!is_integer)
        raise_arg_error(L, arg, "number has no integer representation");
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

endpoint check_endpoint(lua_State* L, int arg)
{
    std::size_t length = 0;
    const char* bytes = nullptr;
    if (lua_type(L, arg) == LUA_TSTRING) {
        bytes = lua_tolstring(L, arg, &length);
    } else if (luaL_testudata(L, arg, path_type_name)) {
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
    std::error_code ec;
    endpoint address = make_endpoint(std::string_view(bytes, length), ec);
    if (ec) {
        char detail[96];
        std::snprintf(detail, sizeof detail, "%s (%zu bytes; at most %zu)",
                      ec.value() == ENAMETOOLONG ? "path too long" : "invalid path", length,
                      sizeof(sockaddr_un::sun_path));
        raise_arg_error_text(L, ec, arg, detail);
    }
    return address;
}

socket_type& live_socket(lua_State* L, socket_object* object)
{
    if (!object->socket)
        raise_error(L, asio::error::bad_descriptor);
    return *object->socket;
}

void create_metatable(lua_State* L, binding_state& state, const char* type, const luaL_Reg* methods,
                      const luaL_Reg* metamethods, lua_CFunction index)
{
    luaL_newmetatable(L, type);
    remember_metatable(L, type);
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, metamethods, 1);
    lua_pushfstring(L, "%s.", type);
    name_functions(L, -2, lua_tostring(L, -1), 0);
    lua_pop(L, 1);
    if (methods) {
        if (index)
            lua_pushlightuserdata(L, &state);
        lua_newtable(L);
        lua_pushlightuserdata(L, &state);
        luaL_setfuncs(L, methods, 1);
        name_functions(L, -1, "", 0);
        if (index) {
            lua_pushcclosure(L, index, 2);
            lua_pushfstring(L, "%s.__index", type);
            name_function(L, -2);
        }
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

void open_error(lua_State* L, binding_state& state)
{
    static const luaL_Reg metamethods[] = {
        {"__tostring", error_tostring},
        {nullptr, nullptr},
    };
    create_metatable(L, state, error_type_name, nullptr, metamethods);
}

} // namespace unixdgram::lua::detail
