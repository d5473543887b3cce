//
// bindings/lua/src/binding.hpp — what the binding's source files share: the
// per-lua_State binding state, fibers and their waits, error objects and
// argument checks.
//
// Distributed under the Boost Software License, Version 1.0.
//
// The rule every lua_CFunction here follows: check the arguments first, into
// plain values; do the C++ work in noexcept helpers that report an
// std::error_code; raise or yield as the last statement, when no C++ object
// with a destructor is alive in the function's frame. Lua (built as C, as
// Debian ships it) raises and yields with longjmp, which runs no destructors.
//
#ifndef UNIXDGRAM_LUA_BINDING_HPP
#define UNIXDGRAM_LUA_BINDING_HPP

#include <unixdgram.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <lua.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>
#include <vector>

namespace unixdgram::lua::detail {

using socket_type = unixdgram::datagram_socket<>;

// Metatable names (luaL_newmetatable keys, and the __name users see).
inline constexpr const char* socket_type_name = "unix.datagram_socket";
inline constexpr const char* byte_span_type_name = "byte_span";
inline constexpr const char* path_type_name = "filesystem.path";
inline constexpr const char* fd_type_name = "file_descriptor";
inline constexpr const char* fiber_type_name = "fiber";
inline constexpr const char* error_type_name = "error_code";
inline constexpr const char* category_type_name = "error_category";
inline constexpr const char* generic_error_type_name = "generic_error";
inline constexpr const char* wait_type_name = "unixdgram.wait";
inline constexpr const char* state_type_name = "unixdgram.state";

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

// Objects --------------------------------------------------------------------

// unix.datagram_socket. The C++ socket is destroyed by __gc and __close; the
// Lua object then behaves as a closed socket and open() makes a new one.
struct socket_object {
    std::optional<socket_type> socket;
};

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

// Waits -------------------------------------------------------------------------

// A send or receive, checked into plain values.
struct io_request {
    bool is_send = false;
    bool has_address = false; // a send's destination, or a receive that reports its sender
    socket_object* object = nullptr;
    void* data = nullptr;
    std::size_t size = 0;
    int flags = 0;
    endpoint destination;
    std::size_t max_fds = 0;
    int fd_list_arg = 0; // where a send's file_descriptors are, to read again after allocating
    std::size_t fd_count = 0;
    int fds[max_fds_per_datagram];
    std::optional<credentials> sender_credentials; // a send's own (SCM_CREDENTIALS)
};

// What the kernel said.
struct io_outcome {
    std::error_code ec;
    std::size_t bytes = 0;
    bool truncated = false;
    bool control_truncated = false;
    std::optional<credentials> sender_credentials;
    std::size_t fd_count = 0;
    bool has_pidfd = false; // owned by the storage entry after the descriptors' room
    endpoint sender;
};

static_assert(std::is_trivially_destructible_v<endpoint>);
static_assert(std::is_trivially_destructible_v<io_request>);
static_assert(std::is_trivially_destructible_v<io_outcome>);

struct fiber_object;

enum class wait_kind : unsigned char { none, io, sleep, join, run, yield };

// One blocking call in progress. A fiber owns one, reused by each of its
// calls; a call that drives the loop instead (outside any fiber) makes one as
// a userdata on its own stack.
struct wait_state {
    wait_kind kind = wait_kind::none;
    bool pending = false;          // not completed yet
    bool done = false;             // completed; read by a call that drives the loop
    fiber_object* fiber = nullptr; // resumed on completion; null when driving
    io_request request;
    io_outcome outcome;
    fiber_object* join_target = nullptr;
    std::vector<file_descriptor> received_fds; // the storage of a receive
    std::vector<file_descriptor> sent_fds;     // copies a waiting send owns
    // A waiting receive_many's or send_many's entries, and how many a
    // send_many had sent before it waited.
    std::vector<receive_entry> receive_entries;
    std::vector<send_entry> send_entries;
    std::size_t sent_before_wait = 0;
    int anchored_values = 0; // the call's stack values held by its fiber while it waits
    std::optional<asio::steady_timer> timer;
    // On the C++ heap, shared with the handler of the operation it cancels
    // (bind_wait_handler): an operation clears its slot when it completes,
    // which may be after lua_close freed the wait, a Lua userdata.
    std::shared_ptr<asio::cancellation_signal> cancel_signal;
};

enum class fiber_status : unsigned char { starting, alive, finished, failed };

struct fiber_object {
    lua_State* thread = nullptr; // also in user value 1, which keeps it alive
    // User value 2, made on the first wait: a table holding the waiting
    // call's stack values (socket, buffers, batch entries). User value 3,
    // once finished: its results or error, out of the script's reach.
    // User value 4, made on first use: this_fiber.local_.
    fiber_status status = fiber_status::starting;
    // Set by interrupt() and never cleared, as in Emilua: every blocking call
    // from then on raises `interrupted`, unless interruption is disabled.
    bool interrupt_requested = false;
    bool is_main = false;
    bool error_reported = false; // joined, or returned by run()
    bool joined_by_driver = false;
    bool interrupted_failure = false; // failed with the binding's `interrupted` error
    bool handle_released = false;     // joined or detached: the handle no longer refers to it
    std::optional<bool> interruption_caught; // known once joined
    int interruption_disabled = 0;           // this_fiber.disable_interruption() depth
    int suspension_forbidden = 0;            // this_fiber.forbid_suspend() depth
    int start_arguments = 0;
    int anchor = LUA_NOREF; // registry reference while not finished (or failed, unjoined)
    int result_count = 0;
    bool outcome_lost = false; // no memory to store the results or error (see fiber.cpp)
    fiber_object* joiner = nullptr;
    fiber_object* next_failed = nullptr;
    wait_state* active_wait = nullptr; // what interrupt() cancels
    wait_state wait;
};

// Cleared when the binding state is destroyed; completions that outlive it do
// nothing.
struct lifeline {
    bool alive = true;
};

struct binding_state {
    // Declared first so that it is destroyed last: the executor refers to it.
    std::optional<asio::io_context> owned_context;
    asio::any_io_executor executor;
    asio::io_context* context = nullptr; // what a call outside a fiber runs
    std::shared_ptr<lifeline> life;
    lua_State* helper = nullptr;         // an idle thread for bookkeeping in handlers
    lua_State* running_thread = nullptr; // the thread running our code now
    fiber_object* current_fiber = nullptr;
    fiber_object* main_fiber = nullptr;
    fiber_object* first_failed = nullptr;
    fiber_object* last_failed = nullptr;
    fiber_object* run_waiter = nullptr;
    std::size_t live_fibers = 0;
    // this_fiber's counters for code outside any fiber (stock lua5.4's main
    // thread), which is the script's main fiber there.
    int interruption_disabled = 0;
    int suspension_forbidden = 0;
    std::vector<file_descriptor> fd_scratch; // storage of receives that succeed at once
    // The entries of batches that succeed at once; grown to the largest batch
    // seen, so steady state allocates nothing.
    std::vector<receive_entry> receive_batch;
    std::vector<send_entry> send_batch;

    ~binding_state()
    {
        if (life)
            life->alive = false;
    }
};

// The state, from upvalue 1 of every function the binding registers.
inline binding_state& state_of(lua_State* L)
{
    return *static_cast<binding_state*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// Errors ------------------------------------------------------------------------

// Pushes an error object {code, name, category, message[, arg]}, as
// Emilua's: `category` is the one category object of its category, whose
// tostring is its name; errors compare equal by code and category.
void push_error(lua_State* L, std::error_code ec, int arg = 0, const char* message = nullptr);

// Raises an error object for `ec`.
[[noreturn]] void raise_error(lua_State* L, std::error_code ec);

// Raises an EINVAL argument error object: "bad argument #n to 'f' (...)".
// Its `arg` field counts self as argument 1 of a method, as Emilua's does;
// the message counts as Lua's own argument errors do, from the first
// argument written after a:f(.
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

// The error of indexing the object at 1 with a key (at 2) it does not have:
// bad_index, with the field index = 2, as Emilua raises it.
[[noreturn]] void raise_bad_index(lua_State* L);

// "X expected, got Y" for argument `arg`.
[[noreturn]] void raise_type_error(lua_State* L, int arg, const char* expected);

// The type name users see: the metatable's __name where there is one.
const char* type_name(lua_State* L, int index);

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

// Argument checks -----------------------------------------------------------------

// Files the metatable on top of the stack under the address of `type` as
// well as under the name: found by address, a type check is a pointer-keyed
// table read, where by name Lua interns the string on every call.
void remember_metatable(lua_State* L, const char* type);

// Pushes the metatable of `type` (nil when there is none).
int push_metatable(lua_State* L, const char* type);

// The userdata at `index` when its metatable is `type`'s, else null: what
// luaL_testudata says, found by address.
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

// Bytes to send: a string or a byte_span (never a number).
struct const_bytes {
    const void* data;
    std::size_t size;
};
const_bytes check_bytes(lua_State* L, int arg);

// A path argument (string or filesystem.path), as an endpoint.
endpoint check_endpoint(lua_State* L, int arg);

// The open C++ socket, or an EBADF error.
socket_type& live_socket(lua_State* L, socket_object* object);

// Pushes a new filesystem.path holding `length` bytes.
void push_path(lua_State* L, const char* bytes, std::size_t length);
void push_endpoint_path(lua_State* L, const endpoint& address);

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
void open_fiber(
    lua_State* L,
    binding_state& state); // pushes nothing; sets spawn, sleep, run, this_fiber in the table on top
void open_error(lua_State* L, binding_state& state); // pushes the generic_error module
void open_systemd(lua_State* L, binding_state& state);

// Registers methods and metamethods (each with the state as upvalue 1) under
// `type`, with __metatable the type's name, as Emilua's types have it. Given
// methods, __index finds them, then calls `index` (if given; with the state
// and the methods table as upvalues 1 and 2, for types that have properties
// too), and raises bad_index for a key neither knows.
void create_metatable(lua_State* L, binding_state& state, const char* type, const luaL_Reg* methods,
                      const luaL_Reg* metamethods, lua_CFunction index = nullptr);

// Waiting -------------------------------------------------------------------------

// Where the calling code waits: the running fiber's own wait, or (outside a
// fiber, or where it cannot yield) a new wait userdata pushed on L's stack.
// Raises `interrupted` when the fiber was interrupted, `cannot_block` when
// there is neither a fiber nor an io_context to drive.
wait_state& begin_wait(lua_State* L, binding_state& state, wait_kind kind);

// The last statement of a function whose wait has started: yields the fiber
// (its continuation `finish` runs on completion) or drives the loop until the
// wait is done and calls `finish` itself.
int suspend(lua_State* L, binding_state& state, wait_state& wait, lua_KFunction finish);

// Called on completion (from a handler): resumes the fiber or marks the wait
// done for the loop driver.
void complete_wait(binding_state& state, wait_state& wait) noexcept;

// Posts a completion of `wait` with `ec` (waits with no Asio operation: join, run).
void complete_later(binding_state& state, wait_state& wait, std::error_code ec) noexcept;

// Ends a pending wait early: interrupt(), or a loop that stopped under it.
void cancel_wait(binding_state& state, wait_state& wait) noexcept;

// The wait a continuation (lua_KFunction) finishes, from its context; raises
// if the fiber was resumed before the wait completed.
wait_state* completed_wait(lua_State* L, lua_KContext context);

// completed_wait for a wait that gives no results: raises `interrupted` or
// its error, if any.
wait_state* completed_wait_or_raise(lua_State* L, lua_KContext context);

// `interrupted` if the completion was the calling fiber's interruption (and
// the request is taken), else `ec`.
std::error_code interruption_or(binding_state& state, const std::error_code& ec) noexcept;

// Raises `interrupted` if the completion was the calling fiber's interruption.
void raise_if_interrupted(lua_State* L, binding_state& state, const std::error_code& ec);

// Starts the function at `function_index` (its arguments above it) as a new
// fiber; replaces them with the fiber object.
void spawn_fiber(lua_State* L, binding_state& state, int function_index, bool is_main);

// After the loop ran out of work: pushes a report (messages with tracebacks)
// of the main fiber's failure, unjoined failures and fibers that never
// finished, and returns true; false, pushing nothing, when all went well.
bool push_failure_report(lua_State* L, binding_state& state);

// The completion handler of every Asio operation a wait starts.
struct wait_handler {
    std::shared_ptr<lifeline> life;
    binding_state* state;
    wait_state* wait;
    std::shared_ptr<asio::cancellation_signal> signal; // kept alive until the operation is done

    void operator()(std::error_code ec);
    void operator()(std::error_code ec, std::size_t bytes);
    void operator()(std::error_code ec, receive_result result);
};

// A wait_handler for `wait`, bound to the wait's cancellation signal (made
// on first use). May throw std::bad_alloc.
inline auto bind_wait_handler(binding_state& state, wait_state& wait)
{
    if (!wait.cancel_signal)
        wait.cancel_signal = std::make_shared<asio::cancellation_signal>();
    return asio::bind_cancellation_slot(
        wait.cancel_signal->slot(), wait_handler{state.life, &state, &wait, wait.cancel_signal});
}

} // namespace unixdgram::lua::detail

#endif // UNIXDGRAM_LUA_BINDING_HPP
