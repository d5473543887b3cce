//
// bindings/lua/src/host.cpp — unixdgram-lua SCRIPT [ARGS...]
//
// Runs SCRIPT ("-" for standard input) as the main fiber with the globals of
// the binding set, and exits when every fiber has finished: 0 on success; 1,
// with the message and traceback on stderr, when an error was not caught.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram/lua.hpp>

#include <asio/io_context.hpp>

#include <cstdio>
#include <cstring>
#include <exception>

namespace {

const char* program_name = "unixdgram-lua";

void print_error(lua_State* L)
{
    const char* message = luaL_tolstring(L, -1, nullptr);
    std::fprintf(stderr, "%s: %s\n", program_name, message);
    lua_pop(L, 2);
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

int run(asio::io_context& context, lua_State* L, int argc, char** argv)
{
    if (unixdgram::lua::open(L, context.get_executor()) != LUA_OK) {
        print_error(L);
        return 1;
    }
    set_arg_table(L, argc, argv);
    const char* script = argv[1];
    if (luaL_loadfile(L, std::strcmp(script, "-") == 0 ? nullptr : script) != LUA_OK) {
        print_error(L);
        return 1;
    }
    for (int at = 2; at < argc; ++at)
        lua_pushstring(L, argv[at]);
    if (unixdgram::lua::spawn_main(L, argc - 2) != LUA_OK) {
        print_error(L);
        return 1;
    }
    context.run();
    if (unixdgram::lua::report(L) != LUA_OK) {
        std::fprintf(stderr, "%s: %s", program_name, lua_tostring(L, -1));
        lua_pop(L, 1);
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
        lua_State* L = luaL_newstate();
        if (!L) {
            std::fprintf(stderr, "%s: cannot create a Lua state: not enough memory\n",
                         program_name);
            return 1;
        }
        luaL_openlibs(L);
        int status = run(context, L, argc, argv);
        lua_close(L); // before the io_context, whose handlers may refer to it
        return status;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", program_name, e.what());
        return 1;
    }
}
