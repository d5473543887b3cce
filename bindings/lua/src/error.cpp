//
// bindings/lua/src/error.cpp — error objects, error categories, and the errors
// the binding raises.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "aux.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstring>
#include <string>
#include <string_view>

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
        case binding_error::bad_index:
            return "no such field";
        case binding_error::forbid_suspend_block:
            return "cannot suspend: this fiber called forbid_suspend()";
        case binding_error::suspension_already_allowed:
            return "allow_suspend() without a matching forbid_suspend()";
        case binding_error::interruption_already_allowed:
            return "restore_interruption() without a matching disable_interruption()";
        }
        return "unknown unixdgram.lua error";
    }
};

// An error's words, copied out of C++ strings before anything can raise.
struct error_words {
    char message[256];
    const char* name;
};

// The registry key of the table of category objects, by category address.
char category_objects_key;

// POSIX's names, the generic_error module's keys: those of Emilua 0.4.
struct posix_error {
    std::string_view name;
    int value;
};
constexpr posix_error posix_errors[] = {
    {"EAFNOSUPPORT", EAFNOSUPPORT},
    {"EADDRINUSE", EADDRINUSE},
    {"EADDRNOTAVAIL", EADDRNOTAVAIL},
    {"EISCONN", EISCONN},
    {"E2BIG", E2BIG},
    {"EDOM", EDOM},
    {"EFAULT", EFAULT},
    {"EBADF", EBADF},
    {"EBADMSG", EBADMSG},
    {"EPIPE", EPIPE},
    {"ECONNABORTED", ECONNABORTED},
    {"EALREADY", EALREADY},
    {"ECONNREFUSED", ECONNREFUSED},
    {"ECONNRESET", ECONNRESET},
    {"EXDEV", EXDEV},
    {"EDESTADDRREQ", EDESTADDRREQ},
    {"EBUSY", EBUSY},
    {"ENOTEMPTY", ENOTEMPTY},
    {"ENOEXEC", ENOEXEC},
    {"EEXIST", EEXIST},
    {"EFBIG", EFBIG},
    {"ENAMETOOLONG", ENAMETOOLONG},
    {"ENOSYS", ENOSYS},
    {"EHOSTUNREACH", EHOSTUNREACH},
    {"EIDRM", EIDRM},
    {"EILSEQ", EILSEQ},
    {"ENOTTY", ENOTTY},
    {"EINTR", EINTR},
    {"EINVAL", EINVAL},
    {"ESPIPE", ESPIPE},
    {"EIO", EIO},
    {"EISDIR", EISDIR},
    {"EMSGSIZE", EMSGSIZE},
    {"ENETDOWN", ENETDOWN},
    {"ENETRESET", ENETRESET},
    {"ENETUNREACH", ENETUNREACH},
    {"ENOBUFS", ENOBUFS},
    {"ECHILD", ECHILD},
    {"ENOLINK", ENOLINK},
    {"ENOLCK", ENOLCK},
    {"ENOMSG", ENOMSG},
    {"ENOPROTOOPT", ENOPROTOOPT},
    {"ENOSPC", ENOSPC},
    {"ENXIO", ENXIO},
    {"ENODEV", ENODEV},
    {"ENOENT", ENOENT},
    {"ESRCH", ESRCH},
    {"ENOTDIR", ENOTDIR},
    {"ENOTSOCK", ENOTSOCK},
    {"ENOTCONN", ENOTCONN},
    {"ENOMEM", ENOMEM},
    {"ENOTSUP", ENOTSUP},
    {"ECANCELED", ECANCELED},
    {"EINPROGRESS", EINPROGRESS},
    {"EPERM", EPERM},
    {"EOPNOTSUPP", EOPNOTSUPP},
    {"EWOULDBLOCK", EWOULDBLOCK},
    {"EOWNERDEAD", EOWNERDEAD},
    {"EACCES", EACCES},
    {"EPROTO", EPROTO},
    {"EPROTONOSUPPORT", EPROTONOSUPPORT},
    {"EROFS", EROFS},
    {"EDEADLK", EDEADLK},
    {"EAGAIN", EAGAIN},
    {"ERANGE", ERANGE},
    {"ENOTRECOVERABLE", ENOTRECOVERABLE},
    {"ETXTBSY", ETXTBSY},
    {"ETIMEDOUT", ETIMEDOUT},
    {"ENFILE", ENFILE},
    {"EMFILE", EMFILE},
    {"EMLINK", EMLINK},
    {"ELOOP", ELOOP},
    {"EOVERFLOW", EOVERFLOW},
    {"EPROTOTYPE", EPROTOTYPE},
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
        case binding_error::bad_index:
            return "bad_index";
        case binding_error::forbid_suspend_block:
            return "forbid_suspend_block";
        case binding_error::suspension_already_allowed:
            return "suspension_already_allowed";
        case binding_error::interruption_already_allowed:
            return "interruption_already_allowed";
        }
    } else if (const char* name = asio_misc_error_name(ec)) {
        return name;
    }
    return "unknown";
}

// The category an error object names. Asio's system category
// ("asio.system") holds errno values as the standard one does; errors name
// the standard one, as Emilua's do, whose default_error_condition maps them
// to the generic category (togeneric).
const std::error_category& shown_category(const std::error_code& ec) noexcept
{
    if (is_asio_system_category(ec.category()))
        return std::system_category();
    return ec.category();
}

void copy_message(const std::error_category& category, int value, char (&out)[256]) noexcept
{
    try {
        std::string text = category.message(value);
        std::size_t length = std::min(text.size(), sizeof(out) - 1);
        std::memcpy(out, text.data(), length);
        out[length] = '\0';
    } catch (...) {
        std::strcpy(out, "unknown error");
    }
}

error_words describe(const std::error_code& ec) noexcept
{
    error_words words;
    bool is_errno = ec.category() == std::system_category() ||
                    ec.category() == std::generic_category() ||
                    is_asio_system_category(ec.category());
    words.name = is_errno ? errno_name(ec.value()) : enum_name(ec);
    copy_message(ec.category(), ec.value(), words.message);
    return words;
}

// Pushes the category object of `category`: one per category in a lua_State,
// so that categories compare equal as any two values do.
void push_category(lua_State* L, const std::error_category& category)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &category_objects_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &category_objects_key);
    }
    if (lua_rawgetp(L, -1, &category) == LUA_TNIL) {
        lua_pop(L, 1);
        auto* object = static_cast<const std::error_category**>(
            lua_newuserdatauv(L, sizeof(const std::error_category*), 0));
        *object = &category;
        // Kept only once it has its metatable: an error raised while the
        // binding opens comes before open_error made it.
        if (push_metatable(L, category_type_name) == LUA_TTABLE) {
            lua_setmetatable(L, -2);
            lua_pushvalue(L, -1);
            lua_rawsetp(L, -3, &category);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_remove(L, -2);
}

const std::error_category* to_category(lua_State* L, int index)
{
    auto* object =
        static_cast<const std::error_category**>(test_object(L, index, category_type_name));
    return object ? *object : nullptr;
}

int category_tostring(lua_State* L)
{
    const std::error_category* category = to_category(L, 1);
    if (!category)
        raise_type_error(L, 1, category_type_name);
    lua_pushstring(L, category->name());
    return 1;
}

int category_eq(lua_State* L)
{
    const std::error_category* left = to_category(L, 1);
    const std::error_category* right = to_category(L, 2);
    lua_pushboolean(L, left && right && *left == *right);
    return 1;
}

// The message of a code in the category (upvalue 2): category.message(code),
// as Emilua's source takes it, or category:message(code), as its manual
// writes it.
int category_message(lua_State* L)
{
    const std::error_category* category = to_category(L, lua_upvalueindex(2));
    int arg = to_category(L, 1) ? 2 : 1;
    auto value = static_cast<int>(check_integer(L, arg, INT_MIN, INT_MAX));
    char text[256];
    copy_message(*category, value, text);
    lua_pushstring(L, text);
    return 1;
}

int category_index(lua_State* L)
{
    if (lua_type(L, 2) == LUA_TSTRING && std::strcmp(lua_tostring(L, 2), "message") == 0) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_pushvalue(L, 1);
        lua_pushcclosure(L, boundary<category_message>, 2);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

void push_raw_field(lua_State* L, int table, const char* key)
{
    lua_pushstring(L, key);
    lua_rawget(L, table);
}

// Two errors are equal when their codes and categories are; other fields
// do not count.
int error_eq(lua_State* L)
{
    bool equal = lua_type(L, 1) == LUA_TTABLE && lua_type(L, 2) == LUA_TTABLE;
    if (equal) {
        push_raw_field(L, 1, "code");
        push_raw_field(L, 2, "code");
        equal = lua_type(L, -1) == LUA_TNUMBER && lua_rawequal(L, -1, -2);
    }
    if (equal) {
        push_raw_field(L, 1, "category");
        push_raw_field(L, 2, "category");
        equal = lua_compare(L, -1, -2, LUA_OPEQ);
    }
    lua_pushboolean(L, equal);
    return 1;
}

// err:togeneric(): the error's default condition, in the generic category
// where the category maps the code there, else the error's own code.
int error_togeneric(lua_State* L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        raise_type_error(L, 1, error_type_name);
    push_raw_field(L, 1, "code");
    int is_integer = 0;
    lua_Integer value = lua_tointegerx(L, -1, &is_integer);
    if (!is_integer || value < INT_MIN || value > INT_MAX)
        raise_arg_error(L, 1, "error without an integer code");
    push_raw_field(L, 1, "category");
    const std::error_category* category = to_category(L, -1);
    if (!category)
        raise_arg_error(L, 1, "error without a category object");
    std::error_condition condition = category->default_error_condition(static_cast<int>(value));
    push_error(L, std::error_code(condition.value(), condition.category()));
    return 1;
}

// generic_error.NAME: a new error of the generic category.
int generic_error_index(lua_State* L)
{
    if (lua_type(L, 2) == LUA_TSTRING) {
        std::size_t length = 0;
        const char* key = lua_tolstring(L, 2, &length);
        for (const posix_error& entry : posix_errors) {
            if (entry.name == std::string_view(key, length)) {
                push_error(L, std::error_code(entry.value, std::generic_category()));
                return 1;
            }
        }
    }
    lua_pushnil(L); // the __index that called raises bad_index
    return 1;
}

int error_tostring(lua_State* L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        raise_type_error(L, 1, error_type_name);
    lua_getfield(L, 1, "message");
    if (lua_type(L, -1) != LUA_TSTRING)
        lua_pushliteral(L, "unixdgram error");
    return 1;
}

// Where the binding files the name of each function it registers (a table
// from function to name), so that an error names the function however it was
// called: as a method, through pcall, from a fiber, by a local of another name.
constexpr const char* function_names_key = "unixdgram.function_names";

} // namespace

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
    push_category(L, shown_category(ec));
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
    push_error(L, ec, arg, message); // arg as Emilua counts: self is 1
    lua_error(L);
    std::abort();
}

// The detail is made as luaL_error makes its message: formatted before
// va_end, raised after.
void raise_arg_error(lua_State* L, int arg, const char* format, ...)
{
    va_list args;
    va_start(args, format);
    lua_pushvfstring(L, format, args);
    va_end(args);
    raise_arg_error_text(L, std::make_error_code(std::errc::invalid_argument), arg,
                         lua_tostring(L, -1));
}

void raise_arg_error_as(lua_State* L, std::errc code, int arg, const char* format, ...)
{
    va_list args;
    va_start(args, format);
    lua_pushvfstring(L, format, args);
    va_end(args);
    raise_arg_error_text(L, std::make_error_code(code), arg, lua_tostring(L, -1));
}

void raise_bad_index(lua_State* L)
{
    raise_bad_index(L, type_name(L, 1));
}

void raise_bad_index(lua_State* L, const char* type)
{
    const char* message =
        lua_type(L, 2) == LUA_TSTRING
            ? lua_pushfstring(L, "%s has no field '%s'", type, lua_tostring(L, 2))
            : lua_pushfstring(L, "%s has no field of %s key", type, luaL_typename(L, 2));
    push_error(L, make_error_code(binding_error::bad_index), 0, message);
    lua_pushinteger(L, 2);
    lua_setfield(L, -2, "index");
    lua_error(L);
    std::abort();
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

} // namespace

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

void open_error(lua_State* L, binding_state& state)
{
    static const luaL_Reg no_functions[] = {
        {nullptr, nullptr},
    };
    static const luaL_Reg error_metamethods[] = {
        {"__tostring", error_tostring},
        {"__eq", boundary<error_eq>},
        {nullptr, nullptr},
    };
    static const luaL_Reg error_methods[] = {
        {"togeneric", boundary<error_togeneric>},
        {nullptr, nullptr},
    };
    // Errors are tables whose fields are read freely (err.arg is often
    // absent): their __index is a plain methods table, nil for other keys.
    create_metatable(L, state, error_type_name, {}, error_metamethods);
    push_metatable(L, error_type_name);
    lua_newtable(L);
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, error_methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg category_metamethods[] = {
        {"__tostring", boundary<category_tostring>},
        {"__eq", boundary<category_eq>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, category_type_name, {no_functions}, category_metamethods,
                     boundary<category_index>);

    // The generic_error module: a userdata, as Emilua's, so that a name it
    // does not know raises.
    create_metatable(L, state, generic_error_type_name, {no_functions}, no_functions,
                     boundary<generic_error_index>);
    lua_newuserdatauv(L, 0, 0);
    push_metatable(L, generic_error_type_name);
    lua_setmetatable(L, -2);
}

} // namespace unixdgram::lua::detail
