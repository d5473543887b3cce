//
// bindings/lua/src/fiber.cpp — fibers (spawn, join, interrupt), sleep and
// run, and the machinery every blocking call uses to wait.
//
// A fiber is a Lua thread resumed from Asio completion handlers. A blocking
// call made by the running fiber starts an Asio operation and yields with a
// continuation (lua_yieldk); the operation's handler resumes the fiber, and
// the continuation turns the outcome into results or an error. A blocking
// call made anywhere else (the main thread after require, a coroutine the
// user made) drives the io_context with run_one() until its own operation is
// done, running other fibers' completions meanwhile.
//
// Every fiber that has not finished is anchored in the registry, and with it
// its thread and everything on that thread's stack: the socket and buffers of
// a pending operation stay alive until it completes, whatever the GC does.
// A fiber that failed stays anchored until its error is joined or reported.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "runtime.hpp"

// For post_queued_completions alone: a loop driven from inside a handler must
// see the completions the core queued there (see run_once).
#include <unixdgram/datagram_socket.hpp>

#include <asio/error.hpp>
#include <asio/post.hpp>

#include <chrono>
#include <cstring>
#include <limits>
#include <memory>

namespace unixdgram::lua::detail {

namespace {

// About 31 years: far enough for "forever" and still a valid steady_clock
// duration in nanoseconds.
constexpr lua_Number max_sleep_seconds = 1e9;

void resume_fiber(binding_state& state, fiber_object& fiber, int arguments) noexcept;

// Resumes a fiber from the loop: its start, or a bare coroutine.yield().
struct resume_handler {
    std::shared_ptr<lifeline> life;
    binding_state* state;
    fiber_object* fiber;
    int arguments;

    void operator()() const
    {
        if (life->alive)
            resume_fiber(*state, *fiber, arguments);
    }
};

// Completes a wait that has no Asio operation of its own (join, run).
struct completion_handler {
    std::shared_ptr<lifeline> life;
    binding_state* state;
    wait_state* wait;
    std::error_code ec;

    void operator()() const
    {
        if (!life->alive)
            return;
        wait->ec = ec;
        complete_wait(*state, *wait);
    }
};

bool is_finished(const fiber_object& fiber) noexcept
{
    return fiber.status == fiber_status::finished || fiber.status == fiber_status::failed;
}

// Whether the fiber's next (or pending) blocking call is to end interrupted.
bool interruption_pending(const fiber_object& fiber) noexcept
{
    return fiber.interrupt_requested && fiber.interruption_disabled == 0;
}

bool join_in_progress(const fiber_object& fiber) noexcept
{
    return fiber.joiner || fiber.joined_by_driver;
}

// Before Lua 5.4.3 the registry's free list lived at key 0, which the first
// luaL_unref adds to the table: an allocation, which may raise, and a handler
// must not raise.
static_assert(LUA_VERSION_RELEASE_NUM >= 50403,
              "release_anchor runs luaL_unref in Asio handlers, allocation-free from Lua 5.4.3 on");

// luaL_unref reuses registry slots that exist (see the static_assert): it
// allocates nothing and cannot raise, so the idle helper thread may do it
// from a handler.
void unref(binding_state& state, int& reference) noexcept
{
    if (reference != LUA_NOREF) {
        luaL_unref(state.helper, LUA_REGISTRYINDEX, reference);
        reference = LUA_NOREF;
    }
}

void release_anchor(binding_state& state, fiber_object& fiber) noexcept
{
    unref(state, fiber.anchor);
    unref(state, fiber.thread_anchor);
    unref(state, fiber.call_values);
}

// Takes a failed fiber off the list of failures nobody has seen.
void forget_failure(binding_state& state, fiber_object& fiber) noexcept
{
    if (fiber.error_reported)
        return;
    fiber.error_reported = true;
    fiber_object* previous = nullptr;
    for (fiber_object* at = state.first_failed; at; previous = at, at = at->next_failed) {
        if (at != &fiber)
            continue;
        (previous ? previous->next_failed : state.first_failed) = at->next_failed;
        if (state.last_failed == at)
            state.last_failed = previous;
        break;
    }
    fiber.next_failed = nullptr;
    release_anchor(state, fiber);
}

// User value 2 of a fiber object: its outcome once finished, a table of its
// results (1..result_count) or of its error value (1) and traceback. User
// value 3: its this_fiber.local_ table. (User value 1 is its thread.)
constexpr int outcome_user_value = 2;
constexpr int local_user_value = 3;

// Where this_fiber.local_ lives for code outside any fiber.
constexpr const char* outside_local_key = "unixdgram.this_fiber.local_";

// Whether the value at `index` is an error object the binding made for
// `interrupted` (a table of its own cannot pass for one: the metatable is
// the binding's). May allocate.
bool is_interruption(lua_State* L, int index)
{
    index = lua_absindex(L, index);
    if (lua_type(L, index) != LUA_TTABLE || !lua_getmetatable(L, index))
        return false;
    push_metatable(L, error_type_name);
    bool ours = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!ours)
        return false;
    lua_pushliteral(L, "code");
    lua_rawget(L, index);
    bool interrupted = lua_tointeger(L, -1) == static_cast<lua_Integer>(binding_error::interrupted);
    lua_pop(L, 1);
    lua_pushliteral(L, "name");
    lua_rawget(L, index);
    const char* name = lua_tostring(L, -1);
    interrupted = interrupted && name && std::strcmp(name, "interrupted") == 0;
    lua_pop(L, 1);
    return interrupted;
}

// Run protected on the helper thread: (fiber object, values...) into the
// fiber's outcome table. A failed fiber's traceback is taken now, while its
// thread still has the frames the error left.
int store_outcome(lua_State* L)
{
    int count = lua_gettop(L) - 1;
    auto* fiber = static_cast<fiber_object*>(lua_touserdata(L, 1));
    lua_createtable(L, count, 1);
    for (int at = 1; at <= count; ++at) {
        lua_pushvalue(L, at + 1);
        lua_rawseti(L, -2, at);
    }
    if (fiber->status == fiber_status::failed) {
        fiber->interrupted_failure = count == 1 && is_interruption(L, 2);
        luaL_traceback(L, fiber->thread, nullptr, 0);
        lua_setfield(L, -2, "traceback");
    }
    lua_setiuservalue(L, 1, outcome_user_value);
    return 0;
}

// Moves the finished fiber's `values` (its results, or its error value) off
// its thread, into its outcome: the script reaches the thread
// (coroutine.running()) and can empty it with coroutine.close, or resume it
// with the results taken as a function and its arguments. Without memory
// for that, the outcome is lost and join says so.
void settle_outcome(binding_state& state, fiber_object& fiber, int values) noexcept
{
    lua_State* helper = state.helper;
    fiber.outcome_lost = true;
    if (fiber.anchor == LUA_NOREF || !lua_checkstack(helper, values + 2)) {
        lua_settop(fiber.thread, 0);
        return;
    }
    lua_pushcfunction(helper, store_outcome);
    lua_rawgeti(helper, LUA_REGISTRYINDEX, fiber.anchor);
    lua_xmove(fiber.thread, helper, values);
    if (lua_pcall(helper, values + 1, 0, 0) == LUA_OK)
        fiber.outcome_lost = false;
    else
        lua_pop(helper, 1);
    // Emptied, it is dead to coroutine.status and resume from now on. Not
    // when someone else's coroutine.resume is running it (see resume_fiber).
    lua_Debug frame;
    if (fiber.status == fiber_status::finished && lua_status(fiber.thread) == LUA_OK &&
        !lua_getstack(fiber.thread, 0, &frame))
        lua_settop(fiber.thread, 0);
}

void finish_fiber(binding_state& state, fiber_object& fiber, int status, int results) noexcept
{
    --state.live_fibers;
    if (status == LUA_OK) {
        fiber.status = fiber_status::finished;
        fiber.result_count = results;
        settle_outcome(state, fiber, results);
        release_anchor(state, fiber);
    } else {
        // The error value is on top of the dead thread, whose stack is not
        // unwound: settle_outcome takes the traceback there.
        fiber.status = fiber_status::failed;
        settle_outcome(state, fiber, 1);
        if (fiber.interrupted_failure && !fiber.is_main) {
            // Emilua's cancellation idiom: nothing to report, whether joined
            // (join returns nothing), detached or forgotten.
            fiber.error_reported = true;
            release_anchor(state, fiber);
        } else {
            (state.last_failed ? state.last_failed->next_failed : state.first_failed) = &fiber;
            state.last_failed = &fiber;
        }
        // The script's own failure ends the program (as Emilua does).
        if (fiber.is_main && state.context)
            state.context->stop();
    }
    if (fiber_object* joiner = fiber.joiner) {
        fiber.joiner = nullptr;
        complete_later(state, joiner->wait, {});
    }
    if (fiber_object* waiter = state.run_waiter; waiter && state.live_fibers <= 1) {
        state.run_waiter = nullptr;
        complete_later(state, waiter->wait, {});
    }
}

void resume_fiber(binding_state& state, fiber_object& fiber, int arguments) noexcept
{
    // The debug library reaches a fiber's thread before it starts, and
    // coroutine.close can empty it: lua_resume would then read its function
    // and arguments from below the stack.
    if (fiber.status == fiber_status::starting &&
        (lua_status(fiber.thread) != LUA_OK || lua_gettop(fiber.thread) != arguments + 1)) {
        lua_settop(fiber.thread, 0);
        return finish_fiber(state, fiber, LUA_OK, 0);
    }
    if (fiber.status != fiber_status::starting && lua_status(fiber.thread) != LUA_YIELD) {
        // coroutine.resume ran it behind our back (see completed_wait), or
        // coroutine.close emptied it while it waited: nothing is left here to
        // resume. No continuation will take what its wait's operation
        // completed with (received descriptors, say), so that goes now.
        if (!fiber.wait.pending)
            fiber.wait.storage.reset();
        if (!is_finished(fiber))
            finish_fiber(state, fiber, LUA_OK, 0);
        return;
    }
    fiber_object* previous_fiber = state.current_fiber;
    lua_State* previous_thread = state.running_thread;
    state.current_fiber = &fiber;
    state.running_thread = fiber.thread;
    fiber.status = fiber_status::alive;
    fiber.active_wait = nullptr;
    int results = 0;
    int status = lua_resume(fiber.thread, previous_thread, arguments, &results);
    state.current_fiber = previous_fiber;
    state.running_thread = previous_thread;
    if (status != LUA_YIELD)
        return finish_fiber(state, fiber, status, results);
    if (fiber.active_wait)
        return; // waiting in one of our calls; its completion resumes it
    // A bare coroutine.yield() in the fiber's own body: let the others run.
    lua_pop(fiber.thread, results);
    std::error_code ec = guarded([&] {
        asio::post(state.executor, resume_handler{state.life, &state, &fiber, 0});
    });
    if (ec) {
        // Out of memory for one small handler: fail the fiber rather than lose
        // it. Its error value is nil: making a message could fail as well.
        lua_pushnil(fiber.thread);
        finish_fiber(state, fiber, LUA_ERRMEM, 0);
    }
}

bool run_once(binding_state& state) noexcept
{
    try {
        // Run from inside a handler (a coroutine of a fiber blocking), the
        // loop must see the completions that handler's operations queued.
        unixdgram::post_queued_completions();
        return state.context->run_one() > 0;
    } catch (...) {
        return false; // our handlers do not throw; treat it as a stopped loop
    }
}

// Drives the loop for a call that cannot yield, until `done()`. With a
// `wait` (an operation of the call's own), interrupting the enclosing fiber
// cancels that wait, and should the loop stop first (someone called stop())
// the wait is cancelled, finished, and the stop restored. Without one (join
// and run, which wait on other fibers), the enclosing fiber's interruption
// ends the drive with `interrupted`, and a loop with nothing left to run
// with `deadlock`.
template <typename Done>
std::error_code drive(lua_State* L, binding_state& state, wait_state* wait, Done done) noexcept
{
    fiber_object* enclosing = wait ? state.current_fiber : nullptr;
    wait_state* enclosing_wait = enclosing ? enclosing->active_wait : nullptr;
    if (enclosing)
        enclosing->active_wait = wait;
    lua_State* previous_thread = state.running_thread;
    state.running_thread = L;
    if (state.context->stopped())
        state.context->restart();
    bool stop_again = false;
    std::error_code ec;
    while (!done()) {
        fiber_object* fiber = state.current_fiber;
        if (!wait && fiber && interruption_pending(*fiber)) {
            ec = make_error_code(binding_error::interrupted);
            break;
        }
        if (run_once(state))
            continue;
        if (!wait) {
            ec = make_error_code(binding_error::deadlock);
            break;
        }
        if (wait->pending)
            cancel_wait(state, *wait);
        state.context->restart();
        stop_again = true;
    }
    if (stop_again)
        state.context->stop();
    if (enclosing)
        enclosing->active_wait = enclosing_wait;
    state.running_thread = previous_thread;
    return ec;
}

// What every call that may suspend checks first, in Emilua's order: inside
// forbid_suspend() it raises forbid_suspend_block; interrupted (and
// interruption not disabled), it raises interrupted.
void check_can_suspend(lua_State* L, binding_state& state)
{
    fiber_object* fiber = state.current_fiber;
    if ((fiber ? fiber->suspension_forbidden : state.suspension_forbidden) > 0)
        raise_error(L, make_error_code(binding_error::forbid_suspend_block));
    if (fiber && interruption_pending(*fiber))
        raise_error(L, make_error_code(binding_error::interrupted));
}

// The running fiber if the caller can yield it, after check_can_suspend;
// null when the call must drive the loop instead.
fiber_object* yielding_fiber(lua_State* L, binding_state& state)
{
    check_can_suspend(L, state);
    fiber_object* fiber = state.current_fiber;
    if (fiber && fiber->thread == L && lua_isyieldable(L))
        return fiber;
    if (!state.context)
        raise_error(L, make_error_code(binding_error::cannot_block));
    return nullptr;
}

wait_state& reset_wait(wait_state& wait, cancel_action cancel, fiber_object* fiber)
{
    wait.cancel = cancel;
    wait.pending = false;
    wait.done = false;
    wait.fiber = fiber;
    wait.join_target = nullptr;
    wait.ec.clear();
    return wait;
}

// The cancel actions of join and run, which wait on other fibers: the wait
// stops being theirs, and completes aborted.
void cancel_join(binding_state& state, wait_state& wait) noexcept
{
    if (wait.join_target && wait.join_target->joiner == wait.fiber)
        wait.join_target->joiner = nullptr;
    complete_later(state, wait, asio::error::operation_aborted);
}

void cancel_run(binding_state& state, wait_state& wait) noexcept
{
    if (state.run_waiter == wait.fiber)
        state.run_waiter = nullptr;
    complete_later(state, wait, asio::error::operation_aborted);
}

fiber_object* check_fiber(lua_State* L, int arg)
{
    return check<fiber_object>(L, arg, fiber_type_name);
}

// Pushes a finished fiber's outcome field `key` (an index, or a name);
// `object` is the fiber's object. Nil when its outcome was lost.
void push_outcome_field(lua_State* L, int object, lua_Integer index, const char* name = nullptr)
{
    if (lua_getiuservalue(L, object, outcome_user_value) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return;
    }
    if (name)
        lua_getfield(L, -1, name);
    else
        lua_rawgeti(L, -1, index);
    lua_remove(L, -2);
}

// Pushes the error value of the failed fiber at `object`.
void push_failure(lua_State* L, fiber_object& fiber, int object)
{
    if (fiber.outcome_lost)
        push_error(L, std::make_error_code(std::errc::not_enough_memory));
    else
        push_outcome_field(L, object, 1);
}

// Lets go of a finished fiber's outcome, once no handle can read it.
void drop_outcome(lua_State* L, int object)
{
    lua_pushnil(L);
    lua_setiuservalue(L, object, outcome_user_value);
}

// Joins a finished fiber, as Emilua does: its results; nothing when it ended
// by an interruption; else its error raised again. `object` is the fiber's
// object, `target` its fields. Only the outcome the binding stored is read:
// nothing the script can reach. The handle is spent after.
int take_results(lua_State* L, binding_state& state, fiber_object* target, int object)
{
    if (target->status == fiber_status::failed && target->interrupted_failure) {
        target->handle_released = true;
        target->interruption_caught = true;
        drop_outcome(L, object);
        return 0;
    }
    if (target->status == fiber_status::failed) {
        push_failure(L, *target, object); // first: should it fail, the failure stays unseen
        forget_failure(state, *target);
        target->handle_released = true;
        target->interruption_caught = false;
        drop_outcome(L, object);
        return lua_error(L);
    }
    if (target->outcome_lost)
        raise_error(L, std::make_error_code(std::errc::not_enough_memory));
    int count = target->result_count;
    luaL_checkstack(L, count + 1, "too many results");
    for (int at = 1; at <= count; ++at)
        push_outcome_field(L, object, at);
    target->handle_released = true;
    target->interruption_caught = false;
    drop_outcome(L, object);
    return count;
}

int spawn(lua_State* L)
{
    if (lua_type(L, 1) != LUA_TFUNCTION)
        raise_type_error(L, 1, "function");
    spawn_fiber(L, state_of(L), 1, false);
    return 1;
}

int finish_join(lua_State* L, int, lua_KContext context)
{
    wait_state* wait = completed_wait_or_raise(L, context);
    binding_state& state = state_of(L);
    // Argument 1, the target's object, is still on this call's stack.
    if (test_object(L, 1, fiber_type_name) != wait->join_target)
        raise_error(L, make_error_code(binding_error::internal));
    return take_results(L, state, wait->join_target, 1);
}

int fiber_join(lua_State* L)
{
    binding_state& state = state_of(L);
    fiber_object* target = check_fiber(L, 1);
    check_can_suspend(L, state);
    if (target->handle_released)
        raise_arg_error(L, 1, "the fiber was joined or detached already");
    if (join_in_progress(*target))
        raise_arg_error(L, 1, "the fiber is already being joined");
    if (target == state.current_fiber)
        raise_error(L, std::make_error_code(std::errc::resource_deadlock_would_occur));
    if (is_finished(*target))
        return take_results(L, state, target, 1);
    if (fiber_object* self = yielding_fiber(L, state)) {
        wait_state& wait = reset_wait(self->wait, cancel_join, self);
        wait.join_target = target;
        target->joiner = self;
        return suspend(L, state, wait, kboundary<finish_join>);
    }
    target->joined_by_driver = true;
    std::error_code ec = drive(L, state, nullptr, [target] { return is_finished(*target); });
    target->joined_by_driver = false;
    if (ec)
        raise_error(L, ec);
    return take_results(L, state, target, 1);
}

int fiber_interrupt(lua_State* L)
{
    binding_state& state = state_of(L);
    fiber_object* target = check_fiber(L, 1);
    if (target->handle_released || is_finished(*target))
        return 0; // as Emilua: a spent handle interrupts nothing
    target->interrupt_requested = true;
    // Interrupting yourself only sets the request, for the next blocking
    // call; a call made with interruption disabled is not cut short.
    if (target == state.current_fiber || target->interruption_disabled > 0)
        return 0;
    if (wait_state* wait = target->active_wait; wait && wait->pending)
        cancel_wait(state, *wait);
    return 0;
}

// fib:detach(): nobody will join it. Its failure is still reported (by the
// host at exit, by run()), unless it was an interruption.
int fiber_detach(lua_State* L)
{
    fiber_object* target = check_fiber(L, 1);
    if (target->handle_released)
        raise_arg_error(L, 1, "the fiber was joined or detached already");
    if (join_in_progress(*target))
        raise_arg_error(L, 1, "the fiber is being joined");
    target->handle_released = true;
    if (target->status == fiber_status::finished)
        drop_outcome(L, 1);
    return 0;
}

// The properties joinable and interruption_caught.
int fiber_index(lua_State* L)
{
    // Called by __index for a key that is no method (see create_metatable).
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    fiber_object* fiber = check_fiber(L, 1);
    const char* key = lua_tostring(L, 2);
    if (std::strcmp(key, "joinable") == 0) {
        lua_pushboolean(L, !fiber->handle_released && !join_in_progress(*fiber));
        return 1;
    }
    if (std::strcmp(key, "interruption_caught") == 0) {
        if (!fiber->interruption_caught)
            raise_error(L, std::make_error_code(std::errc::invalid_argument)); // not joined yet
        lua_pushboolean(L, *fiber->interruption_caught);
        return 1;
    }
    return 0; // no such property: bad_index
}

int fiber_tostring(lua_State* L)
{
    fiber_object* fiber = check_fiber(L, 1);
    const char* status = "running";
    switch (fiber->status) {
    case fiber_status::starting:
        status = "starting";
        break;
    case fiber_status::alive:
        status = fiber == state_of(L).current_fiber ? "running" : "suspended";
        break;
    case fiber_status::finished:
        status = "finished";
        break;
    case fiber_status::failed:
        status = "failed";
        break;
    }
    lua_pushfstring(L, "fiber (%s): %p", status, static_cast<void*>(fiber));
    return 1;
}

// Whether a __gc was called by the script (debug.getmetatable(f).__gc(f))
// rather than by the collector. The collector never finalizes what is
// anchored or on a stack, except in lua_close, which runs finalizers with
// nothing else on the main thread's stack; a script's call has its caller
// below it.
bool called_by_script(lua_State* L)
{
    lua_Debug caller;
    return lua_getstack(L, 1, &caller) != 0;
}

// Releases the fiber's wait, leaving a fresh one: __gc may run twice, and a
// fiber resurrected by another object's finalizer still joins and prints, as
// its thread and results stay. A call by hand while the fiber is anchored
// does nothing: its wait may be in use by a pending Asio operation.
int fiber_gc(lua_State* L)
{
    binding_state& state = state_of(L);
    fiber_object* fiber = check_fiber(L, 1);
    if ((fiber->anchor != LUA_NOREF || fiber->wait.pending) && called_by_script(L))
        return 0;
    if (state.main_fiber == fiber)
        state.main_fiber = nullptr; // report() must not read it once freed
    std::destroy_at(&fiber->wait);
    new (&fiber->wait) wait_state();
    fiber->active_wait = nullptr;
    return 0;
}

// As fiber_gc: a pending wait is on the stack of the call driving the loop,
// so only a script can call this then.
int wait_gc(lua_State* L)
{
    auto* wait = check<wait_state>(L, 1, wait_type_name);
    if (wait->pending && called_by_script(L))
        return 0;
    std::destroy_at(wait);
    new (wait) wait_state();
    return 0;
}

std::error_code start_sleep(binding_state& state, wait_state& wait, lua_Number seconds) noexcept
{
    return guarded([&] {
        if (!wait.timer)
            wait.timer.emplace(state.executor);
        wait.timer->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(seconds)));
        wait.timer->async_wait(bind_wait_handler(state, wait));
    });
}

int finish_sleep(lua_State* L, int, lua_KContext context)
{
    completed_wait_or_raise(L, context);
    return 0;
}

int sleep(lua_State* L)
{
    binding_state& state = state_of(L);
    if (lua_type(L, 1) != LUA_TNUMBER)
        raise_type_error(L, 1, "number");
    lua_Number seconds = lua_tonumber(L, 1);
    if (!(seconds >= 0 && seconds <= max_sleep_seconds))
        raise_arg_error(L, 1, "sleep duration must be in [0, %f] seconds", max_sleep_seconds);
    wait_state& wait = begin_wait(L, state, cancel_by_signal);
    std::error_code ec = start_sleep(state, wait, seconds);
    if (ec)
        raise_error(L, ec);
    return suspend(L, state, wait, kboundary<finish_sleep>);
}

// run()'s ending: the first failure nobody joined is raised.
int finish_run_now(lua_State* L, binding_state& state)
{
    if (fiber_object* failed = state.first_failed) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, failed->anchor); // an unseen failure stays anchored
        push_failure(L, *failed, lua_gettop(L));
        forget_failure(state, *failed);
        return lua_error(L);
    }
    return 0;
}

int finish_run(lua_State* L, int, lua_KContext context)
{
    completed_wait_or_raise(L, context);
    binding_state& state = state_of(L);
    return finish_run_now(L, state);
}

// run(): waits until every other fiber has finished, then raises the first
// error no one joined. Outside a fiber it drives the loop to get there.
int run(lua_State* L)
{
    binding_state& state = state_of(L);
    if (fiber_object* self = yielding_fiber(L, state)) {
        if (state.live_fibers <= 1)
            return finish_run_now(L, state);
        if (state.run_waiter)
            raise_error(L, std::make_error_code(std::errc::device_or_resource_busy));
        wait_state& wait = reset_wait(self->wait, cancel_run, self);
        state.run_waiter = self;
        return suspend(L, state, wait, kboundary<finish_run>);
    }
    // Inside a fiber that cannot yield here, that fiber itself stays alive.
    std::size_t floor = state.current_fiber ? 1 : 0;
    std::error_code ec =
        drive(L, state, nullptr, [&state, floor] { return state.live_fibers <= floor; });
    if (ec)
        raise_error(L, ec);
    return finish_run_now(L, state);
}

// The fiber holds the values on the waiting call's stack until the call
// resumes: the thread's stack alone is not enough, for coroutine.close can
// empty it, or coroutine.resume unwind it, while the kernel still owns the
// buffers of the pending operation.
void anchor_call_values(lua_State* L, fiber_object& fiber, wait_state& wait)
{
    int top = lua_gettop(L);
    if (fiber.call_values == LUA_NOREF) {
        lua_createtable(L, top, 0);
        fiber.call_values = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, fiber.call_values);
    for (int at = 1; at <= top; ++at) {
        lua_pushvalue(L, at);
        lua_rawseti(L, -2, at);
    }
    lua_pop(L, 1);
    wait.anchored_values = top;
}

void release_call_values(lua_State* L, fiber_object& fiber, wait_state& wait)
{
    if (wait.anchored_values == 0)
        return;
    // Gone with the fiber's anchors once it has finished.
    if (lua_rawgeti(L, LUA_REGISTRYINDEX, fiber.call_values) == LUA_TTABLE) {
        for (int at = 1; at <= wait.anchored_values; ++at) {
            lua_pushnil(L);
            lua_rawseti(L, -2, at);
        }
    }
    lua_pop(L, 1);
    wait.anchored_values = 0;
}

// this_fiber ------------------------------------------------------------------
// Code outside any fiber (stock lua5.4's main thread, a coroutine of its) is
// the script's main fiber: it has counters and a local_ table of its own.

int finish_yield(lua_State* L, int, lua_KContext context)
{
    completed_wait(L, context);
    return 0;
}

// this_fiber.yield(): lets every fiber that is ready run, then goes on. A
// blocking call: it raises as the others do inside forbid_suspend() or once
// interrupted, but nothing cuts the yield itself short.
int this_fiber_yield(lua_State* L)
{
    binding_state& state = state_of(L);
    // Its completion is queued at once, and nothing interrupts a yield.
    wait_state& wait = begin_wait(L, state, nullptr);
    std::error_code ec = guarded([&] {
        asio::post(state.executor, completion_handler{state.life, &state, &wait, {}});
    });
    if (ec)
        raise_error(L, ec);
    return suspend(L, state, wait, kboundary<finish_yield>);
}

int& interruption_disabled_of(binding_state& state) noexcept
{
    return state.current_fiber ? state.current_fiber->interruption_disabled
                               : state.interruption_disabled;
}

int& suspension_forbidden_of(binding_state& state) noexcept
{
    return state.current_fiber ? state.current_fiber->suspension_forbidden
                               : state.suspension_forbidden;
}

// Counts up; the count is an int, and overflowing it would undo the block.
void enter_block(lua_State* L, int& depth)
{
    if (depth == std::numeric_limits<int>::max())
        raise_error(L, std::make_error_code(std::errc::value_too_large));
    ++depth;
}

void leave_block(lua_State* L, int& depth, binding_error unmatched)
{
    if (depth == 0)
        raise_error(L, make_error_code(unmatched));
    --depth;
}

int this_fiber_disable_interruption(lua_State* L)
{
    enter_block(L, interruption_disabled_of(state_of(L)));
    return 0;
}

// Not a point where an interruption is raised: the next blocking call is.
int this_fiber_restore_interruption(lua_State* L)
{
    leave_block(L, interruption_disabled_of(state_of(L)),
                binding_error::interruption_already_allowed);
    return 0;
}

int this_fiber_forbid_suspend(lua_State* L)
{
    enter_block(L, suspension_forbidden_of(state_of(L)));
    return 0;
}

int this_fiber_allow_suspend(lua_State* L)
{
    leave_block(L, suspension_forbidden_of(state_of(L)), binding_error::suspension_already_allowed);
    return 0;
}

// this_fiber.local_: a table per fiber, made on first use, held by the fiber
// object (out of the script's reach but through local_ itself).
int push_this_fiber_local(lua_State* L, binding_state& state)
{
    fiber_object* fiber = state.current_fiber;
    // Making the table may run a finalizer that reads local_ first: the
    // table it made then stays the one.
    if (!fiber) {
        if (lua_getfield(L, LUA_REGISTRYINDEX, outside_local_key) == LUA_TTABLE)
            return 1;
        lua_newtable(L);
        if (lua_getfield(L, LUA_REGISTRYINDEX, outside_local_key) == LUA_TTABLE)
            return 1;
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, outside_local_key);
        return 1;
    }
    // A running fiber is unfinished, so anchored.
    if (fiber->anchor == LUA_NOREF)
        raise_error(L, make_error_code(binding_error::internal));
    lua_rawgeti(L, LUA_REGISTRYINDEX, fiber->anchor);
    int object = lua_gettop(L);
    if (lua_getiuservalue(L, object, local_user_value) == LUA_TTABLE)
        return 1;
    lua_newtable(L);
    if (lua_getiuservalue(L, object, local_user_value) == LUA_TTABLE)
        return 1;
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, object, local_user_value);
    return 1;
}

// Functions (upvalue 2), then the properties local_, is_main and id.
int this_fiber_index(lua_State* L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING)
        return 1;
    binding_state& state = state_of(L);
    const char* key = lua_tostring(L, 2);
    fiber_object* fiber = state.current_fiber;
    if (std::strcmp(key, "local_") == 0)
        return push_this_fiber_local(L, state);
    if (std::strcmp(key, "is_main") == 0) {
        lua_pushboolean(L, fiber ? fiber->is_main : true);
        return 1;
    }
    if (std::strcmp(key, "id") == 0) {
        const void* id = nullptr;
        if (fiber) {
            id = fiber->thread;
        } else {
            lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
            id = lua_topointer(L, -1);
        }
        lua_pushfstring(L, "%p", id);
        return 1;
    }
    raise_bad_index(L);
}

int this_fiber_newindex(lua_State* L)
{
    raise_error(L, std::make_error_code(std::errc::operation_not_permitted));
}

// Pushes the this_fiber table: empty, all through its metatable.
void open_this_fiber(lua_State* L, binding_state& state)
{
    static const luaL_Reg functions[] = {
        {"yield", boundary<this_fiber_yield>},
        {"disable_interruption", boundary<this_fiber_disable_interruption>},
        {"restore_interruption", boundary<this_fiber_restore_interruption>},
        {"forbid_suspend", boundary<this_fiber_forbid_suspend>},
        {"allow_suspend", boundary<this_fiber_allow_suspend>},
        {nullptr, nullptr},
    };
    lua_newtable(L);
    lua_createtable(L, 0, 3);
    lua_pushliteral(L, "this_fiber");
    lua_setfield(L, -2, "__metatable");
    lua_pushlightuserdata(L, &state);
    lua_pushcclosure(L, boundary<this_fiber_newindex>, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushlightuserdata(L, &state);
    lua_newtable(L);
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
    name_functions(L, -1, "this_fiber.", 0);
    lua_pushcclosure(L, boundary<this_fiber_index>, 2);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

} // namespace

wait_state& begin_wait(lua_State* L, binding_state& state, cancel_action cancel)
{
    if (fiber_object* fiber = yielding_fiber(L, state)) {
        // Only after coroutine.resume ran the fiber behind the binding's back.
        if (fiber->wait.pending)
            luaL_error(L, "this fiber's previous blocking call is still pending: it was resumed "
                          "by coroutine.resume");
        anchor_call_values(L, *fiber, fiber->wait);
        return reset_wait(fiber->wait, cancel, fiber);
    }
    wait_state* wait = new_object<wait_state>(L, wait_type_name);
    return reset_wait(*wait, cancel, nullptr);
}

int suspend(lua_State* L, binding_state& state, wait_state& wait, lua_KFunction finish)
{
    wait.pending = true;
    // An interrupt() made after yielding_fiber looked (by a finalizer that
    // ran while the wait was set up) found no wait to cancel: cancel it now.
    fiber_object* waiting = wait.fiber ? wait.fiber : state.current_fiber;
    if (waiting && interruption_pending(*waiting))
        cancel_wait(state, wait);
    if (wait.fiber) {
        wait.fiber->active_wait = &wait;
        return lua_yieldk(L, 0, reinterpret_cast<lua_KContext>(&wait), finish);
    }
    drive(L, state, &wait, [&wait] { return wait.done; });
    return finish(L, LUA_OK, reinterpret_cast<lua_KContext>(&wait));
}

void complete_wait(binding_state& state, wait_state& wait) noexcept
{
    wait.pending = false;
    wait.done = true;
    if (wait.fiber)
        resume_fiber(state, *wait.fiber, 0);
}

void complete_later(binding_state& state, wait_state& wait, std::error_code ec) noexcept
{
    wait.pending = false; // interrupt() must not complete it a second time
    std::error_code failed = guarded([&] {
        asio::post(state.executor, completion_handler{state.life, &state, &wait, ec});
    });
    if (failed) {
        wait.ec = failed;
        complete_wait(state, wait);
    }
}

void cancel_wait(binding_state& state, wait_state& wait) noexcept
{
    if (wait.cancel)
        wait.cancel(state, wait);
}

void cancel_by_signal(binding_state&, wait_state& wait) noexcept
{
    if (wait.cancel_signal)
        wait.cancel_signal->emit(asio::cancellation_type::terminal);
}

// The wait a continuation finishes. A fiber's thread is reachable through
// coroutine.running(); resumed by coroutine.resume while its operation is
// pending, it must not go on (its wait is still in use): it raises instead.
wait_state* completed_wait(lua_State* L, lua_KContext context)
{
    auto* wait = reinterpret_cast<wait_state*>(context);
    if (wait->pending)
        luaL_error(L, "a fiber waiting in a blocking call was resumed by coroutine.resume");
    if (wait->fiber)
        release_call_values(L, *wait->fiber, *wait);
    return wait;
}

wait_state* completed_wait_or_raise(lua_State* L, lua_KContext context)
{
    wait_state* wait = completed_wait(L, context);
    raise_if_interrupted(L, state_of(L), wait->ec);
    if (wait->ec)
        raise_error(L, wait->ec);
    return wait;
}

std::error_code interruption_or(binding_state& state, const std::error_code& ec) noexcept
{
    fiber_object* fiber = state.current_fiber;
    if (ec == asio::error::operation_aborted && fiber && interruption_pending(*fiber))
        return make_error_code(binding_error::interrupted);
    return ec;
}

void raise_if_interrupted(lua_State* L, binding_state& state, const std::error_code& ec)
{
    std::error_code reported = interruption_or(state, ec);
    if (reported != ec)
        raise_error(L, reported);
}

bool is_asio_system_category(const std::error_category& category) noexcept
{
    return category == asio::error::get_system_category();
}

const char* asio_misc_error_name(const std::error_code& ec) noexcept
{
    if (ec.category() != asio::error::get_misc_category())
        return nullptr;
    switch (ec.value()) {
    case asio::error::already_open:
        return "already_open";
    case asio::error::eof:
        return "eof";
    case asio::error::not_found:
        return "not_found";
    case asio::error::fd_set_failure:
        return "fd_set_failure";
    }
    return "unknown";
}

void spawn_fiber(lua_State* L, binding_state& state, int function_index, bool is_main)
{
    int count = lua_gettop(L) - function_index + 1; // the function and its arguments
    auto* fiber = new_object<fiber_object>(L, fiber_type_name, 3);
    lua_State* thread = lua_newthread(L);
    fiber->thread = thread;
    lua_pushvalue(L, -1);
    fiber->thread_anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setiuservalue(L, -2, 1);
    fiber->is_main = is_main;
    fiber->start_arguments = count - 1;
    lua_insert(L, function_index);
    if (!lua_checkstack(thread, count))
        luaL_error(L, "not enough memory");
    lua_xmove(L, thread, count);
    lua_pushvalue(L, -1);
    fiber->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    std::error_code ec = guarded([&] {
        asio::post(state.executor, resume_handler{state.life, &state, fiber, count - 1});
    });
    if (ec) {
        release_anchor(state, *fiber);
        fiber->status = fiber_status::finished;
        raise_error(L, ec);
    }
    ++state.live_fibers;
    if (is_main)
        state.main_fiber = fiber;
}

bool push_failure_report(lua_State* L, binding_state& state)
{
    luaL_Buffer report;
    luaL_buffinit(L, &report);
    bool failed = false;
    // A failed fiber not yet reported is anchored. It goes on L's stack, with
    // its thread, before anything allocates: luaL_tolstring may run a
    // script's __tostring, and the collector with it, and that __tostring
    // may even join the fiber, releasing its anchor.
    auto add_failure = [&](fiber_object& fiber, const char* prefix) {
        failed = true;
        lua_rawgeti(L, LUA_REGISTRYINDEX, fiber.anchor);
        int object = lua_gettop(L);
        push_failure(L, fiber, object);
        const char* message = luaL_tolstring(L, -1, nullptr);
        push_outcome_field(L, object, 0, "traceback");
        const char* traceback = lua_tostring(L, -1);
        lua_pushfstring(L, "%s%s\n%s\n", prefix, message, traceback ? traceback : "");
        forget_failure(state, fiber);
        lua_replace(L, -5); // the line takes the fiber's place; the rest goes
        lua_pop(L, 3);
        luaL_addvalue(&report);
    };
    // Read before any report is made: once reported, the main fiber may be
    // collected while the others' reports allocate.
    fiber_object* main = state.main_fiber;
    bool main_failed = main && main->status == fiber_status::failed;
    if (main_failed && !main->error_reported)
        add_failure(*main, "");
    while (fiber_object* fiber = state.first_failed)
        add_failure(*fiber, "uncaught error in fiber: ");
    if (state.live_fibers > 0 && !main_failed) {
        failed = true;
        lua_pushfstring(L, "%d fiber(s) never finished: each waits for something no one will do\n",
                        static_cast<int>(state.live_fibers));
        luaL_addvalue(&report);
    }
    luaL_pushresult(&report);
    if (!failed)
        lua_pop(L, 1);
    return failed;
}

void open_fiber(lua_State* L, binding_state& state)
{
    static const luaL_Reg methods[] = {
        {"join", boundary<fiber_join>},
        {"detach", boundary<fiber_detach>},
        {"interrupt", boundary<fiber_interrupt>},
        {nullptr, nullptr},
    };
    static const luaL_Reg metamethods[] = {
        {"__gc", boundary<fiber_gc>},
        {"__tostring", boundary<fiber_tostring>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, fiber_type_name, {methods}, metamethods, boundary<fiber_index>);

    static const luaL_Reg wait_metamethods[] = {
        {"__gc", boundary<wait_gc>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, wait_type_name, {}, wait_metamethods);

    static const luaL_Reg functions[] = {
        {"spawn", boundary<spawn>},
        {"sleep", boundary<sleep>},
        {"run", boundary<run>},
        {nullptr, nullptr},
    };
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
    open_this_fiber(L, state);
    lua_setfield(L, -2, "this_fiber");
}

} // namespace unixdgram::lua::detail
