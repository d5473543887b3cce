//
// bindings/lua/src/file_descriptor.cpp — file_descriptor: owns one fd.
//
// Bridges Lua's io library both ways through luaL_Stream, as liolib.c's own
// files are made: from_file() duplicates a file's descriptor; to_file() hands
// the descriptor to a new Lua file that closes it.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "binding.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace unixdgram::lua::detail {

namespace {

fd_object* check_fd(lua_State* L, int arg)
{
    return check<fd_object>(L, arg, fd_type_name);
}

std::error_code errno_code() noexcept
{
    return {errno, std::system_category()};
}

int fd_close(lua_State* L)
{
    fd_object* object = check_open_fd(L, 1);
    std::error_code ec;
    {
        file_descriptor owned(object->fd);
        object->fd = -1;
        owned.close(ec);
    }
    if (ec)
        raise_error(L, ec);
    return 0;
}

// __gc and __close: closes what is still owned.
int fd_gc(lua_State* L)
{
    fd_object* object = check_fd(L, 1);
    if (object->fd >= 0)
        ::close(object->fd);
    object->fd = -1;
    return 0;
}

int fd_dup(lua_State* L)
{
    fd_object* object = check_open_fd(L, 1);
    fd_object* copy = new_object<fd_object>(L, fd_type_name);
    int fd = ::fcntl(object->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        raise_error(L, errno_code());
    copy->fd = fd;
    return 1;
}

int fd_tostring(lua_State* L)
{
    fd_object* object = check_fd(L, 1);
    if (object->fd < 0)
        lua_pushliteral(L, "file_descriptor (closed)");
    else
        lua_pushfstring(L, "/dev/fd/%d", object->fd);
    return 1;
}

// The close function of files made by to_file(), as liolib's io_fclose.
int stream_close(lua_State* L)
{
    auto* stream = static_cast<luaL_Stream*>(luaL_checkudata(L, 1, LUA_FILEHANDLE));
    errno = 0;
    return luaL_fileresult(L, std::fclose(stream->f) == 0, nullptr);
}

// Modes fdopen takes: r, w or a, then an optional +, then b's.
bool valid_mode(const char* mode, std::size_t length)
{
    if (length == 0 || std::strchr("rwa", mode[0]) == nullptr)
        return false;
    std::size_t at = 1;
    if (at < length && mode[at] == '+')
        ++at;
    while (at < length && mode[at] == 'b')
        ++at;
    return at == length;
}

void require_io_library(lua_State* L)
{
    if (luaL_getmetatable(L, LUA_FILEHANDLE) != LUA_TTABLE)
        raise_arg_error(L, 1, "the io library is not loaded");
    lua_pop(L, 1);
}

// fd:to_file(mode): a Lua file that owns the descriptor from now on.
int fd_to_file(lua_State* L)
{
    fd_object* object = check_open_fd(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING)
        raise_type_error(L, 2, "string");
    std::size_t length = 0;
    const char* mode = lua_tolstring(L, 2, &length);
    if (!valid_mode(mode, length))
        raise_arg_error(L, 2, "invalid mode '%s'", mode);
    require_io_library(L);
    // Closed first (closef NULL is liolib's "closed file"), then opened.
    auto* stream = static_cast<luaL_Stream*>(lua_newuserdatauv(L, sizeof(luaL_Stream), 0));
    stream->f = nullptr;
    stream->closef = nullptr;
    luaL_setmetatable(L, LUA_FILEHANDLE);
    std::FILE* file = ::fdopen(object->fd, mode);
    if (!file)
        raise_error(L, errno_code());
    stream->f = file;
    stream->closef = stream_close;
    object->fd = -1;
    return 1;
}

// file_descriptor.from_file(f): a new descriptor for a Lua file's open file.
int fd_from_file(lua_State* L)
{
    require_io_library(L);
    auto* stream = static_cast<luaL_Stream*>(luaL_testudata(L, 1, LUA_FILEHANDLE));
    if (!stream)
        raise_type_error(L, 1, "file");
    if (stream->closef == nullptr)
        raise_arg_error(L, 1, "attempt to use a closed file");
    fd_object* copy = new_object<fd_object>(L, fd_type_name);
    // Checked again: the allocation may have run a finalizer that closed the
    // file, freeing its FILE.
    if (stream->closef == nullptr)
        raise_arg_error(L, 1, "attempt to use a closed file");
    int fd = ::fcntl(::fileno(stream->f), F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        raise_error(L, errno_code());
    copy->fd = fd;
    return 1;
}

} // namespace

fd_object* check_open_fd(lua_State* L, int arg)
{
    fd_object* object = check_fd(L, arg);
    // EBUSY, as Emilua says of a file_descriptor closed or handed over.
    if (object->fd < 0)
        raise_arg_error_as(L, std::errc::device_or_resource_busy, arg, "file_descriptor is closed");
    return object;
}

void push_fd(lua_State* L, file_descriptor& fd)
{
    fd_object* object = new_object<fd_object>(L, fd_type_name);
    object->fd = fd.release();
}

void open_file_descriptor(lua_State* L, binding_state& state)
{
    static const luaL_Reg methods[] = {
        {"close", boundary<fd_close>},
        {"dup", boundary<fd_dup>},
        {"to_file", boundary<fd_to_file>},
        {nullptr, nullptr},
    };
    static const luaL_Reg metamethods[] = {
        {"__gc", boundary<fd_gc>},
        {"__close", boundary<fd_gc>},
        {"__tostring", boundary<fd_tostring>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, fd_type_name, methods, metamethods);

    static const luaL_Reg functions[] = {
        {"from_file", boundary<fd_from_file>},
        {nullptr, nullptr},
    };
    lua_newtable(L);
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
}

} // namespace unixdgram::lua::detail
