//
// bindings/lua/src/runtime.hpp — the binding's runtime: the per-lua_State
// state, fibers, and the waits every blocking call makes. It knows nothing
// of sockets: a blocking call begins a wait with the action that cancels
// its operation, starts the operation, suspends, and finishes in a
// continuation once the operation's handler completed the wait. Whatever an
// operation keeps per wait lives in the wait's payload, which the
// operation's own layer defines (socket.hpp).
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_LUA_RUNTIME_HPP
#define UNIXDGRAM_LUA_RUNTIME_HPP

#include "aux.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <system_error>
#include <utility>

namespace unixdgram::lua::detail {

// Storage a layer above the runtime keeps in a wait or in the state; the
// runtime only owns it.
struct payload {
    virtual ~payload() = default;
};

struct fiber_object;
struct wait_state;

// Ends a pending wait's operation early, so that its handler completes the
// wait soon (interrupt(), or a loop that stopped under it). Supplied by
// whoever starts the operation; null for a wait nothing can cut short.
using cancel_action = void (*)(binding_state& state, wait_state& wait) noexcept;

// One blocking call in progress. A fiber owns one, reused by each of its
// calls; a call that drives the loop instead (outside any fiber) makes one as
// a userdata on its own stack.
struct wait_state {
    bool pending = false;          // not completed yet
    bool done = false;             // completed; read by a call that drives the loop
    fiber_object* fiber = nullptr; // resumed on completion; null when driving
    cancel_action cancel = nullptr;
    std::error_code ec;                  // the operation's outcome
    fiber_object* join_target = nullptr; // what a join waits for
    int anchored_values = 0;             // the call's stack values held by its fiber while it waits
    std::optional<asio::steady_timer> timer;
    // On the C++ heap, shared with the handler of the operation it cancels
    // (bind_wait_handler): an operation clears its slot when it completes,
    // which may be after lua_close freed the wait, a Lua userdata.
    std::shared_ptr<asio::cancellation_signal> cancel_signal;
    // The operation's own storage (see payload_of), kept from wait to wait.
    std::unique_ptr<payload> storage;
};

// The wait's payload as a T, made on first use (and replaced should another
// layer's be there). May throw std::bad_alloc.
template <typename T>
T& payload_of(wait_state& wait)
{
    auto* held = dynamic_cast<T*>(wait.storage.get());
    if (!held) {
        auto made = std::make_unique<T>();
        held = made.get();
        wait.storage = std::move(made);
    }
    return *held;
}

enum class fiber_status : unsigned char { starting, alive, finished, failed };

struct fiber_object {
    lua_State* thread = nullptr; // also in user value 1, which the script reaches too
    // The thread in the registry as long as `anchor` (released with it): the
    // script can replace user value 1 (debug.setuservalue), and the thread
    // must not be collected while the binding may still resume it.
    int thread_anchor = LUA_NOREF;
    // User value 2, once finished: its results or error, out of the
    // script's reach. User value 3, made on first use: this_fiber.local_.
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
    // Made on the first wait, in the registry as long as `anchor`: a table
    // holding the waiting call's stack values (socket, buffers, batch
    // entries), which no script can replace while the kernel uses them.
    int call_values = LUA_NOREF;
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
    // The socket I/O's per-state scratch storage (socket.hpp).
    std::unique_ptr<payload> io_storage;

    ~binding_state()
    {
        if (life)
            life->alive = false;
    }
};

// Waiting -------------------------------------------------------------------------

// Where the calling code waits: the running fiber's own wait, or (outside a
// fiber, or where it cannot yield) a new wait userdata pushed on L's stack;
// `cancel` is what ends its operation early. Raises `interrupted` when the
// fiber was interrupted, `cannot_block` when there is neither a fiber nor an
// io_context to drive.
wait_state& begin_wait(lua_State* L, binding_state& state, cancel_action cancel);

// A cancel_action: the operation was bound to the wait's signal
// (bind_wait_handler), which it emits.
void cancel_by_signal(binding_state& state, wait_state& wait) noexcept;

// The last statement of a function whose wait has started: yields the fiber
// (its continuation `finish` runs on completion) or drives the loop until the
// wait is done and calls `finish` itself.
int suspend(lua_State* L, binding_state& state, wait_state& wait, lua_KFunction finish);

// Called on completion (from a handler): resumes the fiber or marks the wait
// done for the loop driver.
void complete_wait(binding_state& state, wait_state& wait) noexcept;

// Posts a completion of `wait` with `ec` (waits with no Asio operation: join, run).
void complete_later(binding_state& state, wait_state& wait, std::error_code ec) noexcept;

// Ends a pending wait early, through its cancel action.
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

// What a handler does with a completion's results before it completes the
// wait: a callable (wait, results...) that takes them into the wait's
// payload. The default takes nothing.
struct take_nothing {
    void operator()(wait_state&) const noexcept {}
};

// The completion handler of every Asio operation a wait starts.
template <typename Take = take_nothing>
struct wait_handler {
    std::shared_ptr<lifeline> life;
    binding_state* state;
    wait_state* wait;
    std::shared_ptr<asio::cancellation_signal> signal; // kept alive until the operation is done

    template <typename... Results>
    void operator()(std::error_code ec, Results&&... results)
    {
        if (!life->alive)
            return;
        Take()(*wait, std::forward<Results>(results)...);
        wait->ec = ec;
        complete_wait(*state, *wait);
    }
};

// A wait_handler for `wait`, bound to the wait's cancellation signal (made
// on first use). May throw std::bad_alloc.
template <typename Take = take_nothing>
auto bind_wait_handler(binding_state& state, wait_state& wait)
{
    if (!wait.cancel_signal)
        wait.cancel_signal = std::make_shared<asio::cancellation_signal>();
    return asio::bind_cancellation_slot(
        wait.cancel_signal->slot(),
        wait_handler<Take>{state.life, &state, &wait, wait.cancel_signal});
}

} // namespace unixdgram::lua::detail

#endif // UNIXDGRAM_LUA_RUNTIME_HPP
