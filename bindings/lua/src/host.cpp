//
// bindings/lua/src/host.cpp — unixdgram-lua SCRIPT [ARGS...]
//
// Runs SCRIPT ("-" for standard input) as the main fiber with the globals of
// the binding set, and exits when every fiber has finished: 0 on success; 1,
// with the message and traceback on stderr, when an error was not caught.
//
// Every Lua call is made inside lua_pcall: an error raised outside one (out
// of memory, or a script's __tostring failing) would end in Lua's panic, with
// the io_context in main's frame never destroyed.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram/lua.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>

#include <cstdio>
#include <cstring>
#include <exception>

namespace {

const char* program_name = "unixdgram-lua";

// What start() needs from main, passed as a light userdata.
struct host_arguments {
    const asio::any_io_executor* executor;
    int argc;
    char** argv;
};

// The error value at 1 as text, as lua.c's message handler makes it; called
// protected, as a __tostring is the script's code.
int error_text(lua_State* L)
{
    if (lua_type(L, 1) == LUA_TSTRING)
        return 1;
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        return 1;
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    return 1;
}

// Prints the error value on top of the stack and pops it.
void print_error(lua_State* L)
{
    int type = lua_type(L, -1);
    lua_pushcfunction(L, error_text);
    lua_insert(L, -2);
    std::size_t length = 0;
    const char* message = nullptr;
    if (lua_pcall(L, 1, 1, 0) == LUA_OK)
        message = lua_tolstring(L, -1, &length);
    if (message) {
        // A failure report ends with a newline already.
        const char* end = length > 0 && message[length - 1] == '\n' ? "" : "\n";
        std::fprintf(stderr, "%s: %s%s", program_name, message, end);
    } else {
        std::fprintf(stderr, "%s: (error object is a %s value)\n", program_name,
                     lua_typename(L, type));
    }
    lua_pop(L, 1);
}

// arg, as lua.c makes it: arg[0] the script, arg[-1] this program, then the
// script's arguments from arg[1].
void set_arg_table(lua_State* L, int argc, char** argv)
{
    lua_createtable(L, argc - 2, 2);
    for (int at = 0; at < argc; ++at) {
        lua_pushstring(L, argv[at]);
        lua_rawseti(L, -2, at - 1);
    }
    lua_setglobal(L, "arg");
}

// Everything before the loop runs: the libraries, the binding, arg, and the
// script spawned as the main fiber. Called by lua_pcall with a light
// userdata of host_arguments; raises what went wrong.
int start(lua_State* L)
{
    const auto& host = *static_cast<const host_arguments*>(lua_touserdata(L, 1));
    luaL_openlibs(L);
    if (unixdgram::lua::open(L, *host.executor) != LUA_OK)
        return lua_error(L);
    set_arg_table(L, host.argc, host.argv);
    const char* script = host.argv[1];
    if (luaL_loadfile(L, std::strcmp(script, "-") == 0 ? nullptr : script) != LUA_OK)
        return lua_error(L);
    luaL_checkstack(L, host.argc, "too many arguments");
    for (int at = 2; at < host.argc; ++at)
        lua_pushstring(L, host.argv[at]);
    if (unixdgram::lua::spawn_main(L, host.argc - 2) != LUA_OK)
        return lua_error(L);
    return 0;
}

int run(asio::io_context& context, const asio::any_io_executor& executor, lua_State* L, int argc,
        char** argv)
{
    host_arguments host{&executor, argc, argv};
    lua_pushcfunction(L, start);
    lua_pushlightuserdata(L, &host);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        print_error(L);
        return 1;
    }
    context.run();
    if (unixdgram::lua::report(L) != LUA_OK) {
        print_error(L);
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc > 0 && argv[0][0] != '\0')
        program_name = argv[0];
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s SCRIPT [ARGS...]\n", program_name);
        return 2;
    }
    try {
        asio::io_context context;
        asio::any_io_executor executor = context.get_executor();
        lua_State* L = luaL_newstate();
        if (!L) {
            std::fprintf(stderr, "%s: cannot create a Lua state: not enough memory\n",
                         program_name);
            return 1;
        }
        int status = run(context, executor, L, argc, argv);
        lua_close(L); // before the io_context, whose handlers may refer to it
        return status;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", program_name, e.what());
        return 1;
    }
}
