// A program that hosts Lua through an installed unixdgram-lua (by pkg-config
// in scripts/lib/install.sh, by CMake in test/cmake_consumer): it owns the
// io_context and runs a script of its own, in which two fibers exchange a
// datagram. Exit status 0 when the script ran without an error.
//
//   lua_host EXPECTED_VERSION
#include <unixdgram/lua.hpp>

#include <asio/io_context.hpp>

#include <cstdio>

namespace {

constexpr const char* script = R"lua(
local expected = ...
assert(require("unixdgram").version == expected,
       "unixdgram.version is " .. tostring(require("unixdgram").version))
local a, b = unix.datagram_socket.pair()
spawn(function()
    sleep(0.01)
    a:send("hello from a fiber")
end)
local buffer = byte_span.new(64)
local n = b:receive(buffer)           -- the main fiber waits for the other
assert(tostring(buffer:slice(1, n)) == "hello from a fiber")
print("unixdgram " .. expected .. " in a Lua host: received '" .. tostring(buffer:slice(1, n)) .. "'")
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
    if (argc != 2) {
        std::fputs("usage: lua_host EXPECTED_VERSION\n", stderr);
        return 2;
    }
    asio::io_context context;
    lua_State* L = luaL_newstate();
    luaL_openlibs(L);
    if (unixdgram::lua::open(L, context.get_executor()) != LUA_OK)
        return fail(L);
    if (luaL_loadstring(L, script) != LUA_OK)
        return fail(L);
    lua_pushstring(L, argv[1]);
    if (unixdgram::lua::spawn_main(L, 1) != LUA_OK)
        return fail(L);
    context.run();
    if (unixdgram::lua::report(L) != LUA_OK)
        return fail(L);
    lua_close(L); // before the io_context it uses
    return 0;
}
