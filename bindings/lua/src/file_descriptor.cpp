//
// bindings/lua/src/file_descriptor.cpp — file_descriptor: owns one fd.
//
// Bridges Lua's io library both ways through luaL_Stream, as liolib.c's own
// files are made: from_file() duplicates a file's descriptor; to_file() hands
// the descriptor to a new Lua file that closes it. adopt() takes one by
// number (socket activation's LISTEN_FDS, a descriptor a parent left open);
// kind() and seals() tell what a received descriptor is.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "aux.hpp"

#include <unixdgram/file_descriptor.hpp>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
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

// file_descriptor.adopt(n): takes ownership of descriptor number n. The
// object is made first, so that a failed allocation leaves n untouched, and
// n is checked open only then, the latest point before it is owned.
int fd_adopt(lua_State* L)
{
    const int number = static_cast<int>(check_integer(L, 1, 0, INT_MAX));
    fd_object* object = new_object<fd_object>(L, fd_type_name);
    std::error_code ec;
    object->fd = file_descriptor::adopt(number, ec).release();
    if (ec)
        raise_error(L, ec);
    return 1;
}

// What a descriptor refers to, as fd:kind() names it. `name` holds an
// anonymous inode's name ("pidfd", "eventfd"...), which the kernel gives
// only through /proc.
struct fd_kind {
    std::error_code ec;
    const char* kind = "unknown";
    std::array<char, 64> name{};
};

fd_kind kind_of(int fd) noexcept
{
    fd_kind result;
    struct stat status {};
    if (::fstat(fd, &status) != 0) {
        result.ec = errno_code();
        return result;
    }
    // /proc/self/fd's link is the only place that tells a memfd from a
    // tmpfs file ("/memfd:NAME (deleted)") and names an anonymous inode
    // ("anon_inode:[pidfd]", "anon_inode:inotify").
    std::array<char, 32> link_path{};
    std::snprintf(link_path.data(), link_path.size(), "/proc/self/fd/%d", fd);
    std::array<char, 128> target{};
    const ssize_t length = ::readlink(link_path.data(), target.data(), target.size() - 1);
    const std::string_view link(target.data(), length > 0 ? static_cast<std::size_t>(length) : 0);
    switch (status.st_mode & S_IFMT) {
    case S_IFREG:
        // Without /proc: a memfd is the unlinked file seals can be asked of.
        if (link.starts_with("/memfd:") ||
            (length < 0 && status.st_nlink == 0 && ::fcntl(fd, F_GET_SEALS) >= 0))
            result.kind = "memfd";
        else
            result.kind = "file";
        break;
    case S_IFDIR:
        result.kind = "directory";
        break;
    case S_IFIFO:
        result.kind = "pipe";
        break;
    case S_IFSOCK:
        result.kind = "socket";
        break;
    case S_IFCHR:
        result.kind = "character device";
        break;
    case S_IFBLK:
        result.kind = "block device";
        break;
    case S_IFLNK: // an O_PATH descriptor of the link itself
        result.kind = "symbolic link";
        break;
    default:
        break;
    }
    constexpr std::string_view anonymous = "anon_inode:";
    if (link.starts_with(anonymous)) {
        std::string_view name = link.substr(anonymous.size());
        if (name.size() >= 2 && name.front() == '[' && name.back() == ']')
            name = name.substr(1, name.size() - 2);
        name = name.substr(0, result.name.size() - 1);
        std::memcpy(result.name.data(), name.data(), name.size());
        result.kind = result.name.data();
    }
    return result;
}

// fd:kind(): "file", "memfd", "directory", "pipe", "socket", "character
// device", "block device", "symbolic link", an anonymous inode's name
// ("pidfd", "eventfd", "eventpoll", "timerfd", "signalfd", "inotify"...), or
// "unknown".
int fd_kind_method(lua_State* L)
{
    const fd_kind result = kind_of(check_open_fd(L, 1)->fd);
    if (result.ec)
        raise_error(L, result.ec);
    lua_pushstring(L, result.kind);
    return 1;
}

// The seals F_GET_SEALS reports, under the names fd:seals() gives them.
struct seal_name {
    int flag;
    const char* name;
};
constexpr seal_name seal_names[] = {
    {F_SEAL_SEAL, "seal"},   {F_SEAL_SHRINK, "shrink"}, {F_SEAL_GROW, "grow"},
    {F_SEAL_WRITE, "write"}, {0x0010, "future_write"}, // F_SEAL_FUTURE_WRITE, Linux 5.1
    {0x0020, "exec"},                                  // F_SEAL_EXEC, Linux 6.3
};

// fd:seals(): a table of booleans, one per seal name, for a memfd (any file
// F_GET_SEALS answers for); the kernel's EINVAL for other descriptors.
int fd_seals(lua_State* L)
{
    const int seals = ::fcntl(check_open_fd(L, 1)->fd, F_GET_SEALS);
    if (seals < 0)
        raise_error(L, errno_code());
    lua_createtable(L, 0, static_cast<int>(std::size(seal_names)));
    for (const seal_name& seal : seal_names) {
        lua_pushboolean(L, (seals & seal.flag) != 0);
        lua_setfield(L, -2, seal.name);
    }
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

std::size_t check_fd_table(lua_State* L, int arg, int (&out)[max_fds_per_datagram])
{
    if (lua_type(L, arg) != LUA_TTABLE)
        raise_type_error(L, arg, "table of file_descriptor");
    lua_Unsigned count = lua_rawlen(L, arg);
    if (count > max_fds_per_datagram) {
        char detail[96];
        std::snprintf(detail, sizeof detail,
                      "%llu file descriptors, at most %zu fit in one datagram",
                      static_cast<unsigned long long>(count), max_fds_per_datagram);
        raise_arg_error_text(L, unixdgram::error::too_many_fds, arg, detail);
    }
    for (lua_Unsigned at = 1; at <= count; ++at) {
        lua_rawgeti(L, arg, static_cast<lua_Integer>(at));
        auto* fd = static_cast<fd_object*>(test_object(L, -1, fd_type_name));
        if (!fd)
            raise_arg_error(L, arg, "file_descriptor expected at index %I, got %s",
                            static_cast<lua_Integer>(at), type_name(L, -1));
        if (fd->fd < 0)
            raise_arg_error_as(L, std::errc::device_or_resource_busy, arg,
                               "file_descriptor at index %I is closed",
                               static_cast<lua_Integer>(at));
        out[at - 1] = fd->fd;
        lua_pop(L, 1);
    }
    return static_cast<std::size_t>(count);
}

void push_fd(lua_State* L, file_descriptor& fd)
{
    fd_object* object = new_object<fd_object>(L, fd_type_name);
    object->fd = fd.release();
}

void open_file_descriptor(lua_State* L, binding_state& state)
{
    static const luaL_Reg methods[] = {
        {"close", boundary<fd_close>},     {"dup", boundary<fd_dup>},
        {"to_file", boundary<fd_to_file>}, {"kind", boundary<fd_kind_method>},
        {"seals", boundary<fd_seals>},     {nullptr, nullptr},
    };
    static const luaL_Reg metamethods[] = {
        {"__gc", boundary<fd_gc>},
        {"__close", boundary<fd_gc>},
        {"__tostring", boundary<fd_tostring>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, fd_type_name, {methods}, metamethods);

    static const luaL_Reg functions[] = {
        {"from_file", boundary<fd_from_file>},
        {"adopt", boundary<fd_adopt>},
        {nullptr, nullptr},
    };
    lua_newtable(L);
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
}

} // namespace unixdgram::lua::detail
