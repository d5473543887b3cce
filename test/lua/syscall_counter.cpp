//
// test/lua/syscall_counter.cpp — counts a process's send and receive system
// calls per descriptor, for test_syscalls.lua.
//
// Distributed under the Boost Software License, Version 1.0.
//
// One shared object, used twice by the same process: LD_PRELOAD puts it
// ahead of libc, so that its sendto, sendmsg, sendmmsg, recvfrom, recvmsg and
// recvmmsg (and send and recv) count each call before making libc's; and the
// script loads it again with require "syscall_counter", which dlopen resolves
// to the object already loaded, so the Lua functions read the same counters:
//
//   counter.counts(fd) -> sends, receives   since the last reset
//   counter.reset()
//
// A call is counted whatever it returns (EAGAIN included): what is counted
// is what the kernel was asked, which is the cost the binding is to keep low.
//
#include <lua.hpp>

#include <atomic>
#include <cstddef>

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/types.h>

namespace {

constexpr int max_counted_fd = 4096;

std::atomic<long> send_counts[max_counted_fd];
std::atomic<long> receive_counts[max_counted_fd];

void count(std::atomic<long>* counts, int fd) noexcept
{
    if (fd >= 0 && fd < max_counted_fd)
        counts[fd].fetch_add(1, std::memory_order_relaxed);
}

// libc's own function of the name.
template <typename Function>
Function next(const char* name) noexcept
{
    return reinterpret_cast<Function>(::dlsym(RTLD_NEXT, name));
}

int lua_counts(lua_State* L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd < max_counted_fd, 1, "descriptor out of the counted range");
    lua_pushinteger(L, send_counts[fd].load());
    lua_pushinteger(L, receive_counts[fd].load());
    return 2;
}

int lua_reset(lua_State*)
{
    for (int fd = 0; fd < max_counted_fd; ++fd) {
        send_counts[fd].store(0);
        receive_counts[fd].store(0);
    }
    return 0;
}

// Whether the interposed functions are the ones libc's callers reach: false
// when the object was loaded by require alone, without LD_PRELOAD.
bool interposing() noexcept
{
    using sendto_type = ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t);
    return next<sendto_type>("sendto") != nullptr &&
           reinterpret_cast<void*>(::dlsym(RTLD_DEFAULT, "sendto")) ==
               reinterpret_cast<void*>(&::sendto);
}

} // namespace

extern "C" {

ssize_t send(int fd, const void* data, size_t size, int flags)
{
    static const auto real = next<ssize_t (*)(int, const void*, size_t, int)>("send");
    count(send_counts, fd);
    return real(fd, data, size, flags);
}

ssize_t sendto(int fd, const void* data, size_t size, int flags, const sockaddr* to,
               socklen_t to_length)
{
    static const auto real =
        next<ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t)>("sendto");
    count(send_counts, fd);
    return real(fd, data, size, flags, to, to_length);
}

ssize_t sendmsg(int fd, const msghdr* message, int flags)
{
    static const auto real = next<ssize_t (*)(int, const msghdr*, int)>("sendmsg");
    count(send_counts, fd);
    return real(fd, message, flags);
}

int sendmmsg(int fd, mmsghdr* messages, unsigned count_of_messages, int flags)
{
    static const auto real = next<int (*)(int, mmsghdr*, unsigned, int)>("sendmmsg");
    count(send_counts, fd);
    return real(fd, messages, count_of_messages, flags);
}

ssize_t recv(int fd, void* data, size_t size, int flags)
{
    static const auto real = next<ssize_t (*)(int, void*, size_t, int)>("recv");
    count(receive_counts, fd);
    return real(fd, data, size, flags);
}

ssize_t recvfrom(int fd, void* data, size_t size, int flags, sockaddr* from, socklen_t* from_length)
{
    static const auto real =
        next<ssize_t (*)(int, void*, size_t, int, sockaddr*, socklen_t*)>("recvfrom");
    count(receive_counts, fd);
    return real(fd, data, size, flags, from, from_length);
}

ssize_t recvmsg(int fd, msghdr* message, int flags)
{
    static const auto real = next<ssize_t (*)(int, msghdr*, int)>("recvmsg");
    count(receive_counts, fd);
    return real(fd, message, flags);
}

int recvmmsg(int fd, mmsghdr* messages, unsigned count_of_messages, int flags, timespec* timeout)
{
    static const auto real = next<int (*)(int, mmsghdr*, unsigned, int, timespec*)>("recvmmsg");
    count(receive_counts, fd);
    return real(fd, messages, count_of_messages, flags, timeout);
}

int luaopen_syscall_counter(lua_State* L)
{
    static const luaL_Reg functions[] = {
        {"counts", lua_counts},
        {"reset", lua_reset},
        {nullptr, nullptr},
    };
    luaL_newlib(L, functions);
    lua_pushboolean(L, interposing());
    lua_setfield(L, -2, "interposing");
    return 1;
}

} // extern "C"
