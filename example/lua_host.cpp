//
// example/lua_host.cpp — a C++ program that hosts Lua scripts using unixdgram.
//
// The program owns the io_context; Lua fibers and the program's own
// asynchronous work share it. Runs SCRIPT if given, else a script of its own.
//
//   lua_host [SCRIPT]
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram/lua.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>

namespace {

constexpr const char* built_in_script = R"lua(
local a, b = unix.datagram_socket.pair()
spawn(function()
    sleep(0.02)
    a:send("hello from a fiber")
end)
local buf = byte_span.new(64)
local n = b:receive(buf)   -- the main fiber waits; the C++ timer fires meanwhile
print("lua: received " .. tostring(buf:slice(1, n)))
)lua";

int fail(lua_State* L)
{
    std::fprintf(stderr, "lua_host: %s\n", luaL_tolstring(L, -1, nullptr));
    lua_close(L);
    return 1;
}

} // namespace

int main(int argc, char** argv)
{
    asio::io_context context;
    lua_State* L = luaL_newstate();
    luaL_openlibs(L);
    if (unixdgram::lua::open(L, context.get_executor()) != LUA_OK)
        return fail(L);

    int loaded = argc > 1 ? luaL_loadfile(L, argv[1]) : luaL_loadstring(L, built_in_script);
    if (loaded != LUA_OK || unixdgram::lua::spawn_main(L, 0) != LUA_OK)
        return fail(L);

    // The host's own work, on the same io_context as the script's fibers.
    asio::steady_timer timer(context, std::chrono::milliseconds(5));
    timer.async_wait([](std::error_code) { std::puts("c++: timer fired"); });

    context.run();
    if (unixdgram::lua::report(L) != LUA_OK)
        return fail(L);
    lua_close(L); // before the io_context it uses
    return 0;
}
