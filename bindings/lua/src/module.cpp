//
// bindings/lua/src/module.cpp — opening the binding: the per-lua_State
// binding state, the module table, the host API and luaopen_unixdgram.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram/lua.hpp>

#include "runtime.hpp"

#include <unixdgram/version.hpp>

#include <memory>

namespace unixdgram::lua {

namespace {

using namespace detail;

// The state's __gc runs last of the binding's at lua_close (the state was
// made first), so sockets and fibers are gone before the io_context it may own.
int state_gc(lua_State* L)
{
    auto* state = static_cast<binding_state*>(luaL_checkudata(L, 1, state_type_name));
    std::destroy_at(state);
    new (state) binding_state();
    return 0;
}

binding_state* find_state(lua_State* L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, state_registry_key);
    auto* state = static_cast<binding_state*>(luaL_testudata(L, -1, state_type_name));
    lua_pop(L, 1); // the registry keeps it alive
    return state;
}

int preloaded_module(lua_State* L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
}

// require 'unix' and the other modules an Emilua script starts with give the
// module table's fields (on top of the stack), through package.preload;
// entries already there stay.
void preload_emilua_modules(lua_State* L)
{
    int top = lua_gettop(L);
    if (lua_getglobal(L, "package") != LUA_TTABLE || lua_getfield(L, -1, "preload") != LUA_TTABLE) {
        lua_settop(L, top);
        return;
    }
    for (const char* name : {"unix", "filesystem", "time", "generic_error"}) {
        if (lua_getfield(L, -1, name) == LUA_TNIL) {
            lua_getfield(L, -4, name);
            lua_pushcclosure(L, preloaded_module, 1);
            lua_setfield(L, -3, name);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, top);
}

// Makes the state (running on `executor`, or on an io_context of its own) and
// the module table, which is left on the stack and kept in the registry.
void create(lua_State* L, const asio::any_io_executor* executor)
{
    static const luaL_Reg state_metamethods[] = {
        {"__gc", boundary<state_gc>},
        {nullptr, nullptr},
    };
    luaL_newmetatable(L, state_type_name);
    luaL_setfuncs(L, state_metamethods, 0);
    lua_pop(L, 1);

    auto* state = new_object<binding_state>(L, state_type_name);
    std::error_code ec = guarded([&] {
        if (executor) {
            state->executor = *executor;
        } else {
            state->owned_context.emplace();
            state->executor = state->owned_context->get_executor();
        }
        // Only an io_context can be run one handler at a time by a blocking call.
        if (auto* target = state->executor.target<asio::io_context::executor_type>())
            state->context = &target->context();
        state->life = std::make_shared<lifeline>();
    });
    if (ec)
        raise_error(L, ec);
    lua_setfield(L, LUA_REGISTRYINDEX, state_registry_key);
    state->helper = lua_newthread(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "unixdgram.helper");

    lua_createtable(L, 0, 10);
    open_error(L, *state);
    lua_setfield(L, -2, "generic_error");
    open_datagram_socket(L, *state);
    lua_setfield(L, -2, "unix");
    open_byte_span(L, *state);
    lua_setfield(L, -2, "byte_span");
    open_path(L, *state);
    lua_setfield(L, -2, "filesystem");
    open_file_descriptor(L, *state);
    lua_setfield(L, -2, "file_descriptor");
    open_systemd(L, *state);
    lua_setfield(L, -2, "systemd");
    open_fiber(L, *state);
    lua_pushliteral(L, UNIXDGRAM_VERSION_STRING);
    lua_setfield(L, -2, "version");
    // time.sleep is sleep as another closure, so that its errors name it as
    // it was reached.
    lua_createtable(L, 0, 1); // time
    lua_getfield(L, -2, "sleep");
    lua_CFunction sleep_function = lua_tocfunction(L, -1);
    lua_getupvalue(L, -1, 1);
    lua_pushcclosure(L, sleep_function, 1);
    lua_setfield(L, -3, "sleep");
    lua_pop(L, 1);
    lua_setfield(L, -2, "time");
    name_functions(L, -1, "", 2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, module_registry_key);
    preload_emilua_modules(L);
}

int open_module(lua_State* L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, module_registry_key) == LUA_TTABLE)
        return 1;
    lua_pop(L, 1);
    create(L, nullptr);
    return 1;
}

int open_host(lua_State* L)
{
    const auto* executor = static_cast<const asio::any_io_executor*>(lua_touserdata(L, 1));
    if (find_state(L))
        return luaL_error(L, "unixdgram is already open in this lua_State");
    create(L, executor);
    for (const char* name :
         {"unix", "byte_span", "filesystem", "file_descriptor", "spawn", "sleep", "this_fiber"}) {
        lua_getfield(L, -1, name);
        lua_setglobal(L, name);
    }
    // require "unixdgram" then finds this instance, not a second one.
    if (lua_getglobal(L, "package") == LUA_TTABLE && lua_getfield(L, -1, "loaded") == LUA_TTABLE) {
        lua_pushvalue(L, -3);
        lua_setfield(L, -2, "unixdgram");
        lua_getfield(L, -3, "systemd");
        lua_setfield(L, -2, "unixdgram.systemd");
    }
    return 0;
}

int spawn_main_protected(lua_State* L)
{
    binding_state* state = find_state(L);
    if (!state)
        return luaL_error(L, "unixdgram is not open in this lua_State");
    luaL_checktype(L, 1, LUA_TFUNCTION);
    spawn_fiber(L, *state, 1, true);
    return 0;
}

int report_protected(lua_State* L)
{
    binding_state* state = find_state(L);
    if (!state)
        return luaL_error(L, "unixdgram is not open in this lua_State");
    if (!push_failure_report(L, *state))
        lua_pushnil(L);
    return 1;
}

} // namespace

int open(lua_State* L, const asio::any_io_executor& executor) noexcept
{
    lua_pushcfunction(L, boundary<open_host>);
    lua_pushlightuserdata(L, const_cast<asio::any_io_executor*>(&executor));
    return lua_pcall(L, 1, 0, 0);
}

int spawn_main(lua_State* L, int nargs) noexcept
{
    lua_pushcfunction(L, boundary<spawn_main_protected>);
    lua_insert(L, -(nargs + 2));
    return lua_pcall(L, nargs + 1, 0, 0);
}

int report(lua_State* L) noexcept
{
    lua_pushcfunction(L, boundary<report_protected>);
    int status = lua_pcall(L, 0, 1, 0);
    if (status != LUA_OK)
        return status;
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return LUA_OK;
    }
    return LUA_ERRRUN;
}

} // namespace unixdgram::lua

extern "C" int luaopen_unixdgram(lua_State* L)
{
    return unixdgram::lua::detail::boundary<unixdgram::lua::open_module>(L);
}
