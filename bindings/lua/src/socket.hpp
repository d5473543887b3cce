//
// bindings/lua/src/socket.hpp — what the socket type (datagram_socket.cpp)
// and its I/O (socket_io.cpp) share, over the runtime.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_LUA_SOCKET_HPP
#define UNIXDGRAM_LUA_SOCKET_HPP

#include "runtime.hpp"

#include <unixdgram.hpp>

#include <optional>

namespace unixdgram::lua::detail {

using socket_type = unixdgram::datagram_socket<>;

// unix.datagram_socket. The C++ socket is destroyed by __gc and __close; the
// Lua object then behaves as a closed socket, and after __close open() makes
// a new one.
struct socket_object {
    std::optional<socket_type> socket;
    bool finalized = false; // by __gc: a finalizer may resurrect the object
    // Advanced by close(), release() and cancel(), and when __close or __gc
    // destroys the C++ socket: a wait that began before has had its
    // operation aborted by the core, and must not be cancelled through what
    // the object holds now.
    unsigned generation = 0;
};

socket_object* check_socket(lua_State* L, int arg);

// The open C++ socket, or an EBADF error.
socket_type& live_socket(lua_State* L, socket_object* object);

// A path argument (string or filesystem.path), as an endpoint.
endpoint check_endpoint(lua_State* L, int arg);

// Pushes the path of `address` (empty for an unnamed socket).
void push_endpoint_path(lua_State* L, const endpoint& address);

void push_credentials(lua_State* L, const credentials& who);

// Pushes a new file_descriptor owning `fd` (-1: nothing), closing it should
// the push fail.
void push_owned_fd(lua_State* L, int fd);

// The sends, receives and batches (socket_io.cpp), null-terminated.
extern const luaL_Reg socket_io_methods[];

// Makes the socket I/O's per-state storage. May throw std::bad_alloc.
void create_socket_io_storage(binding_state& state);

} // namespace unixdgram::lua::detail

#endif // UNIXDGRAM_LUA_SOCKET_HPP
