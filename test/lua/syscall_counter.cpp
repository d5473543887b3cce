//
// test/lua/syscall_counter.cpp — the counts of test/syscall_counting.cpp,
// the C++ tests' interposer, read from Lua, for test_syscalls.lua.
//
// Distributed under the Boost Software License, Version 1.0.
//
// One shared object, built of this file and syscall_counting.cpp, used twice
// by the same process: LD_PRELOAD puts it ahead of libc, so that its sendto,
// sendmsg, sendmmsg, recvfrom, recvmsg and recvmmsg count each call; and the
// script loads it again with require "syscall_counter", which dlopen
// resolves to the object already loaded, so the Lua functions read the same
// counters:
//
//   counter.counts(fd) -> sends, receives   since the last reset
//   counter.reset()
//   counter.interposing                     whether calls are counted at all
//
// A call is counted whatever it returns (EAGAIN included): what is counted
// is what the kernel was asked, which is the cost the binding is to keep low.
//
#include "../syscall_counting.hpp"

#include <lua.hpp>

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/types.h>

namespace {

using unixdgram_test::call_counts;
using unixdgram_test::calls_on;
using unixdgram_test::counted_fds;

// The counts at the last reset.
call_counts baseline[counted_fds];

int lua_counts(lua_State* L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd < counted_fds, 1, "descriptor out of the counted range");
    const call_counts now = calls_on(static_cast<int>(fd));
    const call_counts& then = baseline[fd];
    lua_pushinteger(L, now.sends() - then.sends());
    lua_pushinteger(L, now.receives() - then.receives());
    return 2;
}

int lua_reset(lua_State*)
{
    for (int fd = 0; fd < counted_fds; ++fd)
        baseline[fd] = calls_on(fd);
    return 0;
}

// Whether libc's callers reach the counting sendto: false when the object
// was loaded by require alone, without LD_PRELOAD. The probe is a send on no
// descriptor, which fails with EBADF and is counted only where interposed.
bool interposing() noexcept
{
    using sendto_type = ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t);
    auto first = reinterpret_cast<sendto_type>(::dlsym(RTLD_DEFAULT, "sendto"));
    if (!first)
        return false;
    const unsigned before = unixdgram_test::sends_on_any_fd();
    first(-1, nullptr, 0, 0, nullptr, 0);
    return unixdgram_test::sends_on_any_fd() != before;
}

} // namespace

extern "C" int luaopen_syscall_counter(lua_State* L)
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
