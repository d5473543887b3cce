//
// bindings/lua/src/aux.hpp — the binding's auxiliary layer: type names,
// error objects, argument checks and metatables. Every binding file includes
// it; it includes no Asio (the runtime, runtime.hpp, brings Asio in).
//
// Distributed under the Boost Software License, Version 1.0.
//
// The rule every lua_CFunction here follows: check the arguments first, into
// plain values; do the C++ work in noexcept helpers that report an
// std::error_code; raise or yield as the last statement, when no C++ object
// with a destructor is alive in the function's frame. Lua (built as C, as
// Debian ships it) raises and yields with longjmp, which runs no destructors.
//
#ifndef UNIXDGRAM_LUA_AUX_HPP
#define UNIXDGRAM_LUA_AUX_HPP

#include <unixdgram/error.hpp>
#include <unixdgram/message.hpp>

#include <lua.hpp>

#include <cstddef>
#include <initializer_list>
#include <new>
#include <string_view>
#include <system_error>

namespace unixdgram {
class file_descriptor;
} // namespace unixdgram

namespace unixdgram::lua::detail {

// Metatable names (luaL_newmetatable keys, and the __name users see). Each
// is an array, one object in the program: its address is the type's key in
// the registry and its tag (see type_tag_index), where a pointer to a string
// literal could point to another copy of the literal in each file (GCC at
// -O0 merges no literals).
inline constexpr char socket_type_name[] = "unix.datagram_socket";
inline constexpr char byte_span_type_name[] = "byte_span";
inline constexpr char path_type_name[] = "filesystem.path";
inline constexpr char fd_type_name[] = "file_descriptor";
inline constexpr char fiber_type_name[] = "fiber";
inline constexpr char error_type_name[] = "error_code";
inline constexpr char category_type_name[] = "error_category";
inline constexpr char generic_error_type_name[] = "generic_error";
inline constexpr char wait_type_name[] = "unixdgram.wait";
inline constexpr char state_type_name[] = "unixdgram.state";

// Where the binding's state lives in the registry.
inline constexpr const char* state_registry_key = "unixdgram.binding";
inline constexpr const char* module_registry_key = "unixdgram.module";

// Conditions of the binding itself, in the "unixdgram.lua" category.
enum class binding_error {
    interrupted = 1, // fiber:interrupt() reached a blocking call
    deadlock,        // waiting for fibers that can never finish
    cannot_block,    // not in a fiber, and no io_context to drive
    internal,        // an unexpected C++ exception
    bad_index,       // an object has no field of the name indexed
    // Emilua's names: a blocking call inside this_fiber.forbid_suspend(), and
    // allow_suspend/restore_interruption with no matching forbid/disable.
    forbid_suspend_block,
    suspension_already_allowed,
    interruption_already_allowed,
};

const std::error_category& binding_category() noexcept;

inline std::error_code make_error_code(binding_error value) noexcept
{
    return {static_cast<int>(value), binding_category()};
}

// The per-lua_State binding state (runtime.hpp), upvalue 1 of every function
// the binding registers.
struct binding_state;

inline binding_state& state_of(lua_State* L)
{
    return *static_cast<binding_state*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// Objects --------------------------------------------------------------------

// byte_span: a window on a storage block, which is a plain userdata kept in
// the span's first user value.
struct byte_span_object {
    unsigned char* data = nullptr;
    std::size_t size = 0;
    std::size_t capacity = 0;
};

// file_descriptor: -1 once closed or handed over.
struct fd_object {
    int fd = -1;
};

// filesystem.path: no C fields; the bytes are a Lua string in user value 1.

// Errors ------------------------------------------------------------------------

// Pushes an error object {code, name, category, message[, arg]}, as
// Emilua's: `category` is the one category object of its category, whose
// tostring is its name; errors compare equal by code and category.
void push_error(lua_State* L, std::error_code ec, int arg = 0, const char* message = nullptr);

// Raises an error object for `ec`.
[[noreturn]] void raise_error(lua_State* L, std::error_code ec);

// Raises an EINVAL argument error object: "bad argument #n to 'f' (...)",
// the detail formatted by lua_pushvfstring. Its `arg` field counts self as
// argument 1 of a method, as Emilua's does; the message counts as Lua's own
// argument errors do, from the first argument written after a:f(.
[[noreturn]] void raise_arg_error(lua_State* L, int arg, const char* format, ...);

// The same, with another code than EINVAL (ENOTSUP, EBUSY).
[[noreturn]] void raise_arg_error_as(lua_State* L, std::errc code, int arg, const char* format,
                                     ...);

// Raises an argument error object of code `ec` whose message is "bad argument
// #n to 'f' (detail)", f the called function's name (see name_functions);
// arg and n count as raise_arg_error's do.
[[noreturn]] void raise_arg_error_text(lua_State* L, std::error_code ec, int arg,
                                       const char* detail);

// Files the functions of the table at `table` under "prefix" + their keys, so
// that argument errors name them however they are called; `depth` levels of
// tables within are named too ("unix.datagram_socket.new"). The first name
// a function gets is kept.
void name_functions(lua_State* L, int table, const char* prefix, int depth);

// Names the function at `function` with the string on top, which it pops.
void name_function(lua_State* L, int function);

// The called function's name, and whether it was called as a method. Nothing
// here allocates: the name table and its strings exist already.
bool called_as_method(lua_State* L, const char** name);

// The error of indexing the object at 1 with a key (at 2) it does not have:
// bad_index, with the field index = 2, as Emilua raises it.
[[noreturn]] void raise_bad_index(lua_State* L);
// The same for an object of `type` that may not be at 1.
[[noreturn]] void raise_bad_index(lua_State* L, const char* type);

// "X expected, got Y" for argument `arg`.
[[noreturn]] void raise_type_error(lua_State* L, int arg, const char* expected);

// The type name users see: the metatable's __name where there is one.
const char* type_name(lua_State* L, int index);

// Asio's own categories, which error objects name as Emilua's do; defined
// by the runtime, the layer that compiles Asio. The name of a code of
// Asio's misc category, or null for any other category.
bool is_asio_system_category(const std::error_category& category) noexcept;
const char* asio_misc_error_name(const std::error_code& ec) noexcept;

// Runs `f` and turns any exception into an error code.
template <typename F>
std::error_code guarded(F&& f) noexcept
{
    try {
        f();
        return {};
    } catch (const std::system_error& e) {
        return e.code();
    } catch (const std::bad_alloc&) {
        return std::make_error_code(std::errc::not_enough_memory);
    } catch (...) {
        return make_error_code(binding_error::internal);
    }
}

// Every lua_CFunction boundary: a C++ exception becomes a Lua error once the
// handler is left, so no exception object is alive when Lua longjmps.
template <lua_CFunction F>
int boundary(lua_State* L)
{
    int results = 0;
    if (std::error_code caught = guarded([&] { results = F(L); }))
        raise_error(L, caught);
    return results;
}

template <lua_KFunction F>
int kboundary(lua_State* L, int status, lua_KContext context)
{
    int results = 0;
    if (std::error_code caught = guarded([&] { results = F(L, status, context); }))
        raise_error(L, caught);
    return results;
}

// Metatables ----------------------------------------------------------------------

// Where a metatable of the binding holds its type's tag: the address of the
// type's name, as a light userdata. No Lua code can read a metatable of ours
// (__metatable hides it) or make a light userdata, so only C code could
// forge the tag, as it could forge luaL_testudata's registry entry.
inline constexpr lua_Integer type_tag_index = 1;

// Files the metatable on top of the stack under the address of `type` as
// well as under the name (found by address, Lua interns no string), and
// tags it with `type` for test_object.
void remember_metatable(lua_State* L, const char* type);

// Pushes the metatable of `type` (nil when there is none).
int push_metatable(lua_State* L, const char* type);

// The userdata at `index` when its metatable is `type`'s, else null: what
// luaL_testudata says, by the metatable's tag.
void* test_object(lua_State* L, int index, const char* type);

// Makes a userdata of type T in its closed state and gives it its metatable.
template <typename T>
T* new_object(lua_State* L, const char* type, int user_values = 0)
{
    void* memory = lua_newuserdatauv(L, sizeof(T), user_values);
    T* object = new (memory) T();
    push_metatable(L, type);
    lua_setmetatable(L, -2);
    return object;
}

// How an object's methods are found.
enum class method_lookup {
    // A methods table shared by the type's objects. Without properties it is
    // __index itself, so a method call is one table lookup and one C call;
    // with properties __index is a C function that finds both.
    shared,
    // The methods in a table of each object's own (give_own_methods), behind
    // which the properties are found: one table lookup and one C call, for
    // about 1.1 KB per object (a socket takes 1,264 bytes of Lua memory, 128
    // without). For sockets, made rarely and called often.
    own_table,
};

// Where a metatable of an own_table type keeps what give_own_methods copies,
// after the tag.
inline constexpr lua_Integer own_methods_index = 2;
inline constexpr lua_Integer own_properties_index = 3; // the copy's metatable
inline constexpr lua_Integer own_method_count_index = 4;

// Registers methods and metamethods (each with the state as upvalue 1) under
// `type`, with __metatable the type's name, as Emilua's types have it. Given
// method lists, indexing an object finds their methods, then calls `index`
// (if given, for types that have properties too; with the state as upvalue
// 1), and raises bad_index for a key neither knows.
void create_metatable(lua_State* L, binding_state& state, const char* type,
                      std::initializer_list<const luaL_Reg*> methods, const luaL_Reg* metamethods,
                      lua_CFunction index = nullptr, method_lookup lookup = method_lookup::shared);

// Gives the object on top of the stack, of a method_lookup::own_table type,
// a metatable of its own whose __index is a copy of the type's methods. Until
// then the object has no methods: this follows new_object at once.
void give_own_methods(lua_State* L);

// Argument checks -----------------------------------------------------------------

// The userdata of `type` at `arg`, else an argument error. A missing self
// (sock.open() instead of sock:open()) is named as such.
void* check_object(lua_State* L, int arg, const char* type);

template <typename T>
T* check(lua_State* L, int arg, const char* type)
{
    return static_cast<T*>(check_object(L, arg, type));
}

// An integer argument in [low, high]; floats with an exact integer value count.
lua_Integer check_integer(lua_State* L, int arg, lua_Integer low, lua_Integer high);
// The same, without a range.
lua_Integer check_integer(lua_State* L, int arg);

// Bytes to send: a string or a byte_span (never a number).
struct const_bytes {
    const void* data;
    std::size_t size;
};
const_bytes check_bytes(lua_State* L, int arg);

// A path argument (string or filesystem.path) that names a socket: its
// bytes, which the argument keeps alive; an abstract name (leading NUL) is
// length-exact, and any other path holding a NUL is refused.
std::string_view check_socket_path(lua_State* L, int arg);

// Pushes a new filesystem.path holding `length` bytes.
void push_path(lua_State* L, const char* bytes, std::size_t length);

// The file_descriptor at `arg`, which must still own its descriptor.
fd_object* check_open_fd(lua_State* L, int arg);

// Reads a table of open file_descriptors into out[0, count) and returns
// count: too_many_fds past max_fds_per_datagram, EBUSY for a closed one. The
// numbers are the objects' own, valid only until Lua can next allocate.
std::size_t check_fd_table(lua_State* L, int arg, int (&out)[max_fds_per_datagram]);

// Pushes a new file_descriptor that owns `fd` (made closed first, then given fd).
void push_fd(lua_State* L, file_descriptor& fd);

// Type registration; each pushes the table of its module functions.
void open_byte_span(lua_State* L, binding_state& state);
void open_path(lua_State* L, binding_state& state);
void open_file_descriptor(lua_State* L, binding_state& state);
void open_datagram_socket(lua_State* L, binding_state& state);
// Pushes nothing; sets spawn, sleep, run, this_fiber in the table on top.
void open_fiber(lua_State* L, binding_state& state);
void open_error(lua_State* L, binding_state& state); // pushes the generic_error module
void open_systemd(lua_State* L, binding_state& state);

} // namespace unixdgram::lua::detail

#endif // UNIXDGRAM_LUA_AUX_HPP
