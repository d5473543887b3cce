//
// test_lua_hpp.cpp — unixdgram/lua.hpp as an embedder uses it: several
// lua_States on one io_context, one closed while its fibers wait, the
// context then serving the others and the program's own work.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram/lua.hpp>

#include "../unixdgram_test.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace {

using namespace std::chrono_literals;

// A script whose fibers all wait on something that will not happen soon:
// receives of each form, a receive_many, a send to a full peer, a sleep, a
// join of a waiting fiber; and the main fiber waits too. `ready` counts the
// fibers that have started their wait.
constexpr const char* waiting_script = R"lua(
ready = 0
local a, b = unix.datagram_socket.pair()
local full, drain = unix.datagram_socket.pair()
full:set_option("send_buffer_size", 4096)
local named = unix.datagram_socket.new()
named:open()
named:bind("\0unixdgram-test-lua-hpp-" .. tostring(os.time()) .. "-" .. tostring(math.random(1 << 30)))
local function waiter(body)
    return spawn(function()
        ready = ready + 1
        body()
    end)
end
local receiver = waiter(function() b:receive(byte_span.new(16)) end)
waiter(function() b:receive_from(byte_span.new(16)) end)
waiter(function() named:receive_from_with_fds(byte_span.new(16), 4) end)
waiter(function() b:receive_many({byte_span.new(8), byte_span.new(8)}, {}) end)
waiter(function()
    local big = string.rep("x", 1024)
    while true do
        full:send(big)
    end
end)
waiter(function() sleep(1000) end)
waiter(function() receiver:join() end)
ready = ready + 1
sleep(1000)
)lua";
constexpr int waiting_fibers = 8; // the seven above and the main fiber

// A script that exchanges datagrams for a while and then finishes.
constexpr const char* working_script = R"lua(
local a, b = unix.datagram_socket.pair()
local buffer = byte_span.new(16)
local echo = spawn(function()
    for i = 1, 20 do
        sleep(0.002)
        a:send("ping " .. i)
    end
end)
local count = 0
for i = 1, 20 do
    local n = b:receive(buffer)
    if tostring(buffer:slice(1, n)) == "ping " .. i then
        count = count + 1
    end
end
echo:join()
received = count
)lua";

struct lua_state {
    lua_State* L = luaL_newstate();

    lua_state(asio::io_context& context, const char* script)
    {
        REQUIRE(L);
        luaL_openlibs(L);
        REQUIRE(unixdgram::lua::open(L, context.get_executor()) == LUA_OK);
        REQUIRE(luaL_loadstring(L, script) == LUA_OK);
        REQUIRE(unixdgram::lua::spawn_main(L, 0) == LUA_OK);
    }
    lua_state(const lua_state&) = delete;
    lua_state& operator=(const lua_state&) = delete;
    ~lua_state() { close(); }

    void close()
    {
        if (L)
            lua_close(L);
        L = nullptr;
    }

    lua_Integer global(const char* name) const
    {
        lua_getglobal(L, name);
        lua_Integer value = lua_tointeger(L, -1);
        lua_pop(L, 1);
        return value;
    }
};

struct embedder_fixture : unixdgram_test::io_fixture {
    // Runs the loop until `done()` or the safety net expires.
    template <typename Done>
    void run_until(Done done)
    {
        auto deadline = std::chrono::steady_clock::now() + unixdgram_test::safety_timeout;
        io.restart();
        while (!done() && std::chrono::steady_clock::now() < deadline)
            io.run_for(1ms);
    }
};

} // namespace

TEST_CASE_FIXTURE(embedder_fixture,
                  "a lua_State closed while its fibers wait leaves the io_context serving another "
                  "state and the program's own work")
{
    lua_state waiting(io, waiting_script);
    lua_state working(io, working_script);
    run_until([&] { return waiting.global("ready") == waiting_fibers; });
    REQUIRE(waiting.global("ready") == waiting_fibers);

    waiting.close();

    bool timer_fired = false;
    asio::steady_timer timer(io, 20ms);
    timer.async_wait([&](std::error_code ec) { timer_fired = !ec; });
    int posted = 0;
    for (int i = 0; i < 10; ++i)
        asio::post(io, [&] { ++posted; });

    io.restart();
    io.run_for(unixdgram_test::safety_timeout);
    CHECK(io.stopped()); // out of work: nothing of the closed state keeps it busy
    CHECK(timer_fired);
    CHECK(posted == 10);
    CHECK(working.global("received") == 20);
    CHECK(unixdgram::lua::report(working.L) == LUA_OK);
}

TEST_CASE_FIXTURE(embedder_fixture,
                  "a lua_State closed from a handler of the io_context it runs on leaves that "
                  "context running")
{
    lua_state waiting(io, waiting_script);
    lua_state working(io, working_script);
    run_until([&] { return waiting.global("ready") == waiting_fibers; });
    REQUIRE(waiting.global("ready") == waiting_fibers);

    bool closed = false;
    asio::post(io, [&] {
        waiting.close();
        closed = true;
    });
    io.restart();
    io.run_for(unixdgram_test::safety_timeout);
    CHECK(closed);
    CHECK(io.stopped());
    CHECK(working.global("received") == 20);
    CHECK(unixdgram::lua::report(working.L) == LUA_OK);
}

TEST_CASE_FIXTURE(embedder_fixture,
                  "two lua_States closed one after the other while both wait, the context run "
                  "between and after")
{
    lua_state first(io, waiting_script);
    lua_state second(io, waiting_script);
    run_until([&] {
        return first.global("ready") == waiting_fibers && second.global("ready") == waiting_fibers;
    });
    REQUIRE(second.global("ready") == waiting_fibers);
    first.close();
    io.restart();
    io.run_for(20ms);
    CHECK(second.global("ready") == waiting_fibers);
    second.close();
    io.restart();
    io.run_for(unixdgram_test::safety_timeout);
    CHECK(io.stopped());
}
