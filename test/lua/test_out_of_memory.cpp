//
// test_out_of_memory.cpp — received descriptors when Lua runs out of memory:
// a receive is made with an allocator that fails at its first allocation,
// then at its second, and so on until the call succeeds. Whatever allocation
// fails, every descriptor the kernel handed over is either in a Lua object
// (closed by its finalizer when the state closes) or closed by the binding:
// none stays open once the state is gone. The same for making sockets,
// which also get their own methods tables then.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram/lua.hpp>

#include "../unixdgram_test.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace {

// Lua's allocator, failing every growth once `allowed` allocations are made.
struct failing_allocator {
    bool limited = false;
    int allowed = 0;
    int made = 0;

    static void* allocate(void* self, void* block, std::size_t old_size, std::size_t new_size)
    {
        auto& allocator = *static_cast<failing_allocator*>(self);
        if (new_size == 0) {
            std::free(block);
            return nullptr;
        }
        // A block that shrinks or keeps its size never fails (Lua's rule).
        if (allocator.limited && new_size > (block ? old_size : 0) &&
            allocator.made++ >= allocator.allowed)
            return nullptr;
        return std::realloc(block, new_size);
    }
};

// Three descriptors and the sender's pidfd arrive with one datagram; the
// call under test is `attempt` (a global function), made once the datagram
// is queued.
constexpr const char* setup_script = R"lua(
local a, b = unix.datagram_socket.pair()
b:set_option("pass_pidfd", true)
local passed = {}
for i = 1, 3 do
    local x, y = unix.datagram_socket.pair()
    passed[i] = x:release()
    y:close()
end
local kind = ...
if kind == "pair" then
    local buffer = byte_span.new(16)
    function attempt()
        local x, y = unix.datagram_socket.pair()
        assert(x:send("both ends") == 9 and y:receive(buffer) == 9 and x.is_open)
        keep_too = {x, y}
    end
elseif kind == "receive_many" then
    a:send_with_fds("one", passed)
    a:send("two")
    local spans, lengths, identities = {byte_span.new(8), byte_span.new(8)}, {}, {}
    function attempt()
        return b:receive_many(spans, lengths, 0, identities)
    end
else
    a:send_with_fds("datagram", passed)
    local buffer = byte_span.new(16)
    function attempt()
        return b:receive_from_with_fds(buffer, 8)
    end
end
for i = 1, 3 do
    passed[i]:close()
end
keep = {a, b}
)lua";

struct out_of_memory_fixture : unixdgram_test::io_fixture {
    failing_allocator allocator;

    // Runs `attempt` with `allowed` allocations; true when it succeeded.
    bool attempt_with(const char* kind, int allowed)
    {
        lua_State* L = lua_newstate(&failing_allocator::allocate, &allocator);
        REQUIRE(L);
        luaL_openlibs(L);
        REQUIRE(unixdgram::lua::open(L, io.get_executor()) == LUA_OK);
        REQUIRE(luaL_loadstring(L, setup_script) == LUA_OK);
        lua_pushstring(L, kind);
        REQUIRE_MESSAGE(lua_pcall(L, 1, 0, 0) == LUA_OK, lua_tostring(L, -1));
        lua_getglobal(L, "attempt");
        allocator = {true, allowed, 0};
        const int status = lua_pcall(L, 0, 0, 0);
        allocator.limited = false;
        const bool out_of_memory =
            status == LUA_ERRMEM || (status != LUA_OK && lua_type(L, -1) == LUA_TTABLE);
        CHECK_MESSAGE((status == LUA_OK || out_of_memory), "allowed ", allowed, ": status ",
                      status);
        lua_close(L);
        return status == LUA_OK;
    }

    void sweep(const char* kind)
    {
        // Once unlimited first: the io_context opens its reactor's
        // descriptors at its first socket and keeps them.
        REQUIRE(attempt_with(kind, 1 << 30));
        const std::size_t open_before = unixdgram_test::count_open_fds();
        int allowed = 0;
        for (; allowed < 200; ++allowed) {
            const bool done = attempt_with(kind, allowed);
            INFO(std::string(kind), " with ", allowed, " allocations allowed");
            CHECK(unixdgram_test::count_open_fds() == open_before);
            if (done)
                break;
        }
        CHECK(allowed > 2); // the call allocates: the sweep met failures
        CHECK(allowed < 200);
    }
};

} // namespace

TEST_CASE_FIXTURE(out_of_memory_fixture,
                  "receive_from_with_fds leaks no descriptor whichever allocation fails")
{
    sweep("receive_from_with_fds");
}

TEST_CASE_FIXTURE(out_of_memory_fixture,
                  "receive_many with identities leaks no pidfd whichever allocation fails")
{
    sweep("receive_many");
}

TEST_CASE_FIXTURE(out_of_memory_fixture,
                  "pair leaks no descriptor and gives working sockets whichever allocation fails")
{
    sweep("pair");
}
