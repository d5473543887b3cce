//
// bindings/lua/src/datagram_socket.cpp — unix.datagram_socket: lifetime,
// addresses, options and properties. Its sends and receives are in
// socket_io.cpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "socket.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

namespace unixdgram::lua::detail {

namespace {

constexpr const char* option_names =
    "'debug', 'send_buffer_size', 'receive_buffer_size', 'pass_credentials', 'pass_pidfd', "
    "'peer_credentials' and 'peer_pidfd' (read only)";

// Runs one C++ socket call in its std::error_code& form; exceptions become codes.
template <typename F>
std::error_code call(F&& f) noexcept
{
    std::error_code ec;
    std::error_code thrown = guarded([&] { f(ec); });
    return thrown ? thrown : ec;
}

socket_object* push_socket(lua_State* L, binding_state& state)
{
    auto* object = new_object<socket_object>(L, socket_type_name);
    give_own_methods(L);
    std::error_code ec = guarded([&] { object->socket.emplace(state.executor); });
    if (ec)
        raise_error(L, ec);
    return object;
}

// Lifetime -----------------------------------------------------------------------

int socket_new(lua_State* L)
{
    binding_state& state = state_of(L);
    bool adopt = !lua_isnoneornil(L, 1);
    if (adopt)
        check_open_fd(L, 1); // an argument error before any allocation
    socket_object* object = push_socket(L, state);
    if (adopt) {
        // Checked again: making the socket may have run a finalizer that
        // closed the descriptor (and another file may have its number now).
        fd_object* fd = check_open_fd(L, 1);
        std::error_code ec = call([&](std::error_code& ec) { object->socket->assign(fd->fd, ec); });
        if (ec)
            raise_error(L, ec);
        fd->fd = -1; // the socket owns it now
    }
    return 1;
}

int socket_pair(lua_State* L)
{
    binding_state& state = state_of(L);
    socket_object* first = push_socket(L, state);
    socket_object* second = push_socket(L, state);
    // Making the second may have run a finalizer that closed the first.
    socket_type& first_socket = live_socket(L, first);
    std::error_code ec = call(
        [&](std::error_code& ec) { unixdgram::connect_pair(first_socket, *second->socket, ec); });
    if (ec)
        raise_error(L, ec);
    return 2;
}

int socket_open(lua_State* L)
{
    binding_state& state = state_of(L);
    socket_object* object = check_socket(L, 1);
    // Lua finalizes an object once: a socket opened again by a finalizer
    // that resurrected it after its __gc would keep its descriptor for ever.
    if (object->finalized)
        raise_error(L, asio::error::bad_descriptor);
    std::error_code ec = call([&](std::error_code& ec) {
        if (!object->socket)
            object->socket.emplace(state.executor);
        object->socket->open(ec);
    });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_assign(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    fd_object* fd = check_open_fd(L, 2);
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) { socket.assign(fd->fd, ec); });
    if (ec)
        raise_error(L, ec);
    fd->fd = -1;
    return 0;
}

int socket_release(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    live_socket(L, object); // EBADF before allocating
    auto* fd = new_object<fd_object>(L, fd_type_name);
    // After the allocation, which may have run a finalizer that closed the socket.
    socket_type& socket = live_socket(L, object);
    int released = -1;
    ++object->generation;
    std::error_code ec = call([&](std::error_code& ec) { released = socket.release(ec); });
    if (ec)
        raise_error(L, ec);
    fd->fd = released;
    return 1;
}

int socket_close(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    if (!object->socket)
        return 0;
    ++object->generation;
    std::error_code ec = call([&](std::error_code& ec) { object->socket->close(ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

// __close: destroys the C++ socket, which closes it and aborts its
// operations; the object stays, as a closed socket open() can reopen.
int socket_close_variable(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    if (object->socket) {
        object->socket.reset();
        ++object->generation;
    }
    return 0;
}

// __gc: as __close, and for good: open() fails from now on.
int socket_gc(lua_State* L)
{
    check_socket(L, 1)->finalized = true;
    return socket_close_variable(L);
}

int socket_cancel(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    socket_type& socket = live_socket(L, object);
    ++object->generation;
    std::error_code ec = call([&](std::error_code& ec) { socket.cancel(ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

// Addresses ----------------------------------------------------------------------

int socket_bind(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    endpoint address = check_endpoint(L, 2);
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) { socket.bind(address, ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_connect(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    endpoint address = check_endpoint(L, 2);
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) { socket.connect(address, ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_disconnect(lua_State* L)
{
    socket_type& socket = live_socket(L, check_socket(L, 1));
    std::error_code ec = call([&](std::error_code& ec) { socket.disconnect(ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_shutdown(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    static const char* const names[] = {"receive", "send", "both", nullptr};
    static const socket_type::shutdown_type values[] = {
        socket_type::shutdown_type::shutdown_receive,
        socket_type::shutdown_type::shutdown_send,
        socket_type::shutdown_type::shutdown_both,
    };
    if (lua_type(L, 2) != LUA_TSTRING)
        raise_type_error(L, 2, "string ('receive', 'send' or 'both')");
    const char* what = lua_tostring(L, 2);
    int choice = 0;
    while (names[choice] && std::strcmp(names[choice], what) != 0)
        ++choice;
    if (!names[choice])
        raise_arg_error(L, 2, "invalid shutdown '%s': expected 'receive', 'send' or 'both'", what);
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) { socket.shutdown(values[choice], ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

// Options and controls -------------------------------------------------------------

enum class option {
    debug,
    send_buffer_size,
    receive_buffer_size,
    pass_credentials,
    peer_credentials,
    pass_pidfd,
    peer_pidfd
};

option check_option(lua_State* L, int arg)
{
    static const char* const names[] = {"debug",
                                        "send_buffer_size",
                                        "receive_buffer_size",
                                        "pass_credentials",
                                        "peer_credentials",
                                        "pass_pidfd",
                                        "peer_pidfd",
                                        nullptr};
    if (lua_type(L, arg) != LUA_TSTRING)
        raise_type_error(L, arg, "string");
    const char* name = lua_tostring(L, arg);
    int choice = 0;
    while (names[choice] && std::strcmp(names[choice], name) != 0)
        ++choice;
    if (!names[choice])
        raise_arg_error_as(L, std::errc::not_supported, arg,
                           "unknown option '%s'; known options: %s", name, option_names);
    return static_cast<option>(choice);
}

bool check_boolean(lua_State* L, int arg)
{
    if (lua_type(L, arg) != LUA_TBOOLEAN)
        raise_type_error(L, arg, "boolean");
    return lua_toboolean(L, arg) != 0;
}

int socket_set_option(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    option which = check_option(L, 2);
    bool flag = false;
    int size = 0;
    switch (which) {
    case option::debug:
    case option::pass_credentials:
    case option::pass_pidfd:
        flag = check_boolean(L, 3);
        break;
    case option::send_buffer_size:
    case option::receive_buffer_size:
        size = static_cast<int>(check_integer(L, 3, 0, INT_MAX));
        break;
    case option::peer_credentials:
    case option::peer_pidfd:
        raise_arg_error(L, 2, "option '%s' is read only", lua_tostring(L, 2));
    }
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) {
        switch (which) {
        case option::debug:
            socket.set_option(socket_type::debug(flag), ec);
            break;
        case option::pass_credentials:
            socket.set_option(socket_type::pass_credentials(flag), ec);
            break;
        case option::pass_pidfd:
            socket.set_option(socket_type::pass_pidfd(flag), ec);
            break;
        case option::send_buffer_size:
            socket.set_option(socket_type::send_buffer_size(size), ec);
            break;
        case option::receive_buffer_size:
            socket.set_option(socket_type::receive_buffer_size(size), ec);
            break;
        case option::peer_credentials:
        case option::peer_pidfd:
            break;
        }
    });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_get_option(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    option which = check_option(L, 2);
    socket_type& socket = live_socket(L, object);
    bool flag = false;
    int size = 0;
    credentials peer;
    int peer_pidfd = -1; // owned here until a Lua object holds it
    std::error_code ec = call([&](std::error_code& ec) {
        switch (which) {
        case option::debug: {
            socket_type::debug value;
            socket.get_option(value, ec);
            flag = value.value();
            break;
        }
        case option::pass_credentials: {
            socket_type::pass_credentials value;
            socket.get_option(value, ec);
            flag = value.value();
            break;
        }
        case option::pass_pidfd: {
            socket_type::pass_pidfd value;
            socket.get_option(value, ec);
            flag = value.value();
            break;
        }
        case option::send_buffer_size: {
            socket_type::send_buffer_size value;
            socket.get_option(value, ec);
            size = value.value();
            break;
        }
        case option::receive_buffer_size: {
            socket_type::receive_buffer_size value;
            socket.get_option(value, ec);
            size = value.value();
            break;
        }
        case option::peer_credentials:
            peer = socket.peer_credentials(ec);
            break;
        case option::peer_pidfd:
            peer_pidfd = socket.peer_pidfd(ec).release();
            break;
        }
    });
    if (ec)
        raise_error(L, ec);
    switch (which) {
    case option::debug:
    case option::pass_credentials:
    case option::pass_pidfd:
        lua_pushboolean(L, flag);
        break;
    case option::send_buffer_size:
    case option::receive_buffer_size:
        lua_pushinteger(L, size);
        break;
    case option::peer_credentials:
        push_credentials(L, peer);
        break;
    case option::peer_pidfd:
        push_owned_fd(L, peer_pidfd);
        break;
    }
    return 1;
}

int socket_io_control(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING)
        raise_type_error(L, 2, "string");
    const char* command = lua_tostring(L, 2);
    if (std::strcmp(command, "bytes_readable") != 0)
        raise_arg_error_as(L, std::errc::not_supported, 2,
                           "unknown io_control command '%s'; known commands: 'bytes_readable'",
                           command);
    if (!lua_isnone(L, 3))
        raise_arg_error(L, 3, "'bytes_readable' takes no arguments");
    socket_type& socket = live_socket(L, object);
    std::size_t bytes = 0;
    std::error_code ec = call([&](std::error_code& ec) { bytes = socket.bytes_readable(ec); });
    if (ec)
        raise_error(L, ec);
    lua_pushinteger(L, static_cast<lua_Integer>(bytes));
    return 1;
}

// Properties and metamethods ---------------------------------------------------------

int push_address(lua_State* L, socket_object* object, bool remote)
{
    socket_type& socket = live_socket(L, object);
    endpoint address;
    std::error_code ec = call([&](std::error_code& ec) {
        address = remote ? socket.remote_endpoint(ec) : socket.local_endpoint(ec);
    });
    if (ec)
        raise_error(L, ec);
    push_endpoint_path(L, address);
    return 1;
}

int socket_index(lua_State* L)
{
    // Called by __index for a key that is no method (see create_metatable).
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    socket_object* object = check_socket(L, 1);
    const char* key = lua_tostring(L, 2);
    if (std::strcmp(key, "is_open") == 0) {
        lua_pushboolean(L, object->socket && object->socket->is_open());
        return 1;
    }
    if (std::strcmp(key, "local_path") == 0)
        return push_address(L, object, false);
    if (std::strcmp(key, "remote_path") == 0)
        return push_address(L, object, true);
    return 0; // no such property: bad_index
}

int socket_tostring(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    if (object->socket && object->socket->is_open())
        lua_pushfstring(L, "unix.datagram_socket (fd %d)", object->socket->native_handle());
    else
        lua_pushliteral(L, "unix.datagram_socket (closed)");
    return 1;
}

} // namespace

socket_type& live_socket(lua_State* L, socket_object* object)
{
    if (!object->socket)
        raise_error(L, asio::error::bad_descriptor);
    return *object->socket;
}

endpoint check_endpoint(lua_State* L, int arg)
{
    const std::string_view path = check_socket_path(L, arg);
    std::error_code ec;
    endpoint address = make_endpoint(path, ec);
    if (ec) {
        char detail[96];
        std::snprintf(detail, sizeof detail, "%s (%zu bytes; at most %zu)",
                      ec.value() == ENAMETOOLONG ? "path too long" : "invalid path", path.size(),
                      sizeof(sockaddr_un::sun_path));
        raise_arg_error_text(L, ec, arg, detail);
    }
    return address;
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

socket_object* check_socket(lua_State* L, int arg)
{
    return check<socket_object>(L, arg, socket_type_name);
}

void open_datagram_socket(lua_State* L, binding_state& state)
{
    if (std::error_code ec = guarded([&] { create_socket_io_storage(state); }))
        raise_error(L, ec);
    static const luaL_Reg methods[] = {
        {"open", boundary<socket_open>},
        {"bind", boundary<socket_bind>},
        {"connect", boundary<socket_connect>},
        {"disconnect", boundary<socket_disconnect>},
        {"close", boundary<socket_close>},
        {"shutdown", boundary<socket_shutdown>},
        {"cancel", boundary<socket_cancel>},
        {"assign", boundary<socket_assign>},
        {"release", boundary<socket_release>},
        {"set_option", boundary<socket_set_option>},
        {"get_option", boundary<socket_get_option>},
        {"io_control", boundary<socket_io_control>},
        {nullptr, nullptr},
    };
    static const luaL_Reg metamethods[] = {
        {"__gc", boundary<socket_gc>},
        {"__close", boundary<socket_close_variable>},
        {"__tostring", boundary<socket_tostring>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, socket_type_name, {methods, socket_io_methods}, metamethods,
                     boundary<socket_index>, method_lookup::own_table);

    static const luaL_Reg functions[] = {
        {"new", boundary<socket_new>},
        {"pair", boundary<socket_pair>},
        {nullptr, nullptr},
    };
    lua_newtable(L); // unix
    lua_newtable(L); // unix.datagram_socket
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
    lua_setfield(L, -2, "datagram_socket");
    lua_createtable(L, 0, 3); // unix.message_flag
    lua_pushinteger(L, MSG_PEEK);
    lua_setfield(L, -2, "peek");
    lua_pushinteger(L, MSG_TRUNC);
    lua_setfield(L, -2, "truncated");
    lua_pushinteger(L, MSG_CTRUNC);
    lua_setfield(L, -2, "control_truncated");
    lua_setfield(L, -2, "message_flag");
}

} // namespace unixdgram::lua::detail
