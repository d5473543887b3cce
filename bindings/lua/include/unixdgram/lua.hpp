//
// unixdgram/lua.hpp — the Lua 5.4 binding, for programs that host Lua.
//
// Distributed under the Boost Software License, Version 1.0.
//
// A host owns the io_context and the lua_State:
//
// @code
// asio::io_context context;
// lua_State* L = luaL_newstate();
// luaL_openlibs(L);
// unixdgram::lua::open(L, context.get_executor());   // globals: unix, spawn, ...
// luaL_loadfile(L, "script.lua");
// unixdgram::lua::spawn_main(L, 0);                  // the script, as the main fiber
// context.run();                                     // until every fiber has finished
// if (unixdgram::lua::report(L) != LUA_OK)           // uncaught errors, with tracebacks
//     std::fputs(lua_tostring(L, -1), stderr);
// lua_close(L);                                      // any time before the io_context goes
// @endcode
//
// Stock `lua5.4` loads the same binding as a module, `require "unixdgram"`,
// which then owns an io_context of its own.
//
#ifndef UNIXDGRAM_LUA_HPP
#define UNIXDGRAM_LUA_HPP

// Before any Asio header: Asio 1.22 decides how it allocates (aligned_alloc
// or operator new) from a macro of the standard library's configuration, so a
// translation unit that includes Asio first frees with the other function.
#include <cstddef>

#include <asio/any_io_executor.hpp>

#include <lua.hpp>

namespace unixdgram::lua {

/// Opens the binding into `L`. Sets the globals `unix`, `byte_span`,
/// `filesystem`, `file_descriptor`, `spawn` and `sleep`, and makes
/// `require "unixdgram"` return the same names plus `run`.
///
/// Operations run on `executor`. A blocking call made outside a fiber runs
/// the executor's context with `run_one()` until it is done, so that context
/// should be an `asio::io_context`; otherwise such calls raise `cannot_block`.
/// Give that io_context the default concurrency hint, not 1: with 1, Asio
/// keeps what a handler posts in a private queue until the handler returns,
/// out of reach of a call that runs the loop from inside that handler.
///
/// Close `L` before the executor's context is destroyed. `L` may be closed at
/// any moment, even from a handler running on that context and with fibers
/// still waiting: their operations are cancelled, and the context goes on
/// serving other lua_States and the program's own work (the cancelled
/// operations' handlers, run later, do nothing). The one moment it may not
/// be closed is from a handler that one of `L`'s own calls is running (a
/// blocking call outside a fiber runs the context with `run_one()`): `L`'s
/// code is then on the C stack below, as for any lua_close from inside Lua.
///
/// @returns LUA_OK, or an error status with the error object pushed on `L`.
int open(lua_State* L, const asio::any_io_executor& executor) noexcept;

/// Starts the function below its `nargs` arguments as the main fiber, and
/// pops them. The main fiber's failure stops the executor's io_context.
///
/// @returns LUA_OK, or an error status with the error object pushed on `L`.
int spawn_main(lua_State* L, int nargs) noexcept;

/// Once the context has run out of work (or stopped): whether every fiber
/// finished and none failed unjoined.
///
/// @returns LUA_OK; or LUA_ERRRUN with a report pushed on `L`: the messages
/// with their tracebacks, and a count of fibers that never finished.
int report(lua_State* L) noexcept;

} // namespace unixdgram::lua

/// The module entry point, for `require "unixdgram"`.
extern "C" int luaopen_unixdgram(lua_State* L);

#endif // UNIXDGRAM_LUA_HPP
