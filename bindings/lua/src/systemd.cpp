//
// bindings/lua/src/systemd.cpp — unixdgram.systemd: systemd's service
// protocols (sd_notify, the fd store, barriers, sd_listen_fds, `@name`
// addresses), thin over unixdgram/systemd.hpp.
//
// Nothing here blocks the event loop. notify() makes one attempt at the
// send: a manager whose queue is full gets EAGAIN rather than a thread
// stuck in poll(2). notify_barrier() waits for the manager as every other
// blocking call of the binding does: a fiber yields, and code outside a
// fiber drives the loop, so the other fibers run meanwhile.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "socket.hpp"

#include <unixdgram/lua.hpp>
#include <unixdgram/systemd.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/error.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

namespace unixdgram::lua::detail {

namespace {

namespace sd = unixdgram::systemd;

constexpr char barrier_type_name[] = "unixdgram.systemd.barrier";

// systemd's own default for sd_notify_barrier callers (systemd-notify waits
// as long), and the C++ notify_options'.
constexpr lua_Number default_barrier_seconds = 5;
constexpr lua_Number max_barrier_seconds = 1e9; // as sleep()

// An optional boolean argument: nil or absent is false.
bool opt_boolean(lua_State* L, int arg)
{
    if (lua_isnoneornil(L, arg))
        return false;
    if (lua_type(L, arg) != LUA_TBOOLEAN)
        raise_type_error(L, arg, "boolean");
    return lua_toboolean(L, arg) != 0;
}

// The descriptor numbers of an optional table of open file_descriptors. The
// numbers are only used before anything is allocated again.
struct fd_numbers {
    int fds[max_fds_per_datagram]{};
    std::size_t count = 0;
};

fd_numbers check_fds(lua_State* L, int arg)
{
    fd_numbers numbers;
    if (!lua_isnoneornil(L, arg))
        numbers.count = check_fd_table(L, arg, numbers.fds);
    return numbers;
}

// One attempt at sending `state`: a zero timeout, so a full queue is
// reported (as EAGAIN, which it is) instead of waited out in poll(2).
std::error_code notify_once(std::string_view state, std::span<const int> fds, bool unset,
                            bool& sent) noexcept
{
    std::error_code ec;
    sent = sd::notify(state, fds, {.unset_environment = unset, .timeout = {}}, ec);
    if (ec == asio::error::timed_out)
        ec = std::make_error_code(std::errc::resource_unavailable_try_again);
    return ec;
}

// systemd.notify(state[, fds[, unset]]) -> boolean
int notify(lua_State* L)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        raise_type_error(L, 1, "string");
    std::size_t length = 0;
    const char* state = lua_tolstring(L, 1, &length);
    const fd_numbers fds = check_fds(L, 2);
    const bool unset = opt_boolean(L, 3);
    bool sent = false;
    const std::error_code ec = notify_once(std::string_view(state, length),
                                           std::span<const int>(fds.fds, fds.count), unset, sent);
    if (ec)
        raise_error(L, ec);
    lua_pushboolean(L, sent);
    return 1;
}

// Barriers ----------------------------------------------------------------------

// A barrier in progress: the read end of its pipe, which becomes readable
// (end of file) once the manager closes the write end, and its timeout.
// Shared with the handlers, so that the one completing second, after the
// Lua object may be gone, still finds it.
struct barrier_core {
    asio::posix::stream_descriptor pipe;
    asio::steady_timer timer;
    bool finished = false; // the wait was completed by one of the two handlers

    barrier_core(const asio::any_io_executor& executor, int read_end)
        : pipe(executor, read_end), timer(executor)
    {
    }
};

// The Lua object that owns a barrier's core while its call runs: on the
// call's stack, and so anchored by the fiber while it waits.
struct barrier_object {
    std::shared_ptr<barrier_core> core;
};

// What the pipe's read end says once readable: end of file when the manager
// has closed the write end, which is the barrier; bytes a manager wrote are
// not, and are read away so that the wait goes on (as libsystemd's, which
// waits for the hang-up alone).
enum class pipe_state { closed, open, failed };

pipe_state drain(int read_end, std::error_code& ec) noexcept
{
    std::array<char, 256> discarded;
    for (;;) {
        const ssize_t got = ::read(read_end, discarded.data(), discarded.size());
        if (got == 0)
            return pipe_state::closed;
        if (got > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return pipe_state::open;
        ec.assign(errno, std::system_category());
        return pipe_state::failed;
    }
}

// Completes the barrier's wait, once: the pipe's end of file (success), the
// timer (timed_out) or a cancellation (interrupt(), a stopped loop).
struct barrier_handler {
    std::shared_ptr<lifeline> life;
    binding_state* state;
    wait_state* wait;
    std::shared_ptr<barrier_core> core;
    bool is_timer;
    std::shared_ptr<asio::cancellation_signal> signal; // the pipe's wait's, kept alive

    // Waits for the pipe (again), bound to the wait's cancellation signal,
    // which the handler keeps alive until the operation is done (see
    // bind_wait_handler). May throw std::bad_alloc.
    static void wait_for_pipe(barrier_handler handler)
    {
        wait_state& wait = *handler.wait;
        if (!wait.cancel_signal)
            wait.cancel_signal = std::make_shared<asio::cancellation_signal>();
        handler.signal = wait.cancel_signal;
        const asio::cancellation_slot slot = wait.cancel_signal->slot();
        barrier_core& core = *handler.core;
        core.pipe.async_wait(asio::posix::stream_descriptor::wait_read,
                             asio::bind_cancellation_slot(slot, std::move(handler)));
    }

    void operator()(std::error_code ec) const
    {
        if (!life->alive || core->finished)
            return;
        // The timer cancelled by the pipe's completion: that completed it.
        if (is_timer && ec == asio::error::operation_aborted)
            return;
        if (!is_timer && !ec && drain(core->pipe.native_handle(), ec) == pipe_state::open) {
            ec = guarded([this] { wait_for_pipe(*this); });
            if (!ec)
                return;
        }
        core->finished = true;
        std::error_code ignored;
        if (is_timer) {
            core->pipe.cancel(ignored);
            ec = asio::error::timed_out;
        } else {
            core->timer.cancel();
        }
        wait->ec = ec;
        complete_wait(*state, *wait);
    }
};

int barrier_gc(lua_State* L)
{
    auto* object = static_cast<barrier_object*>(luaL_checkudata(L, 1, barrier_type_name));
    if (object->core) {
        std::error_code ignored;
        object->core->pipe.close(ignored);
        object->core->timer.cancel();
        object->core.reset();
    }
    return 0;
}

// Sends BARRIER=1 with the write end of a new pipe and keeps the read end in
// `object`, non-blocking, for drain(). `sent` is false when NOTIFY_SOCKET is
// unset.
std::error_code send_barrier(binding_state& state, barrier_object& object, bool unset,
                             bool& sent) noexcept
{
    std::error_code ec;
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        ec.assign(errno, std::system_category());
        if (unset)
            ::unsetenv("NOTIFY_SOCKET");
        return ec;
    }
    file_descriptor read_end(ends[0]);
    file_descriptor write_end(ends[1]);
    // The write end, the manager's, keeps its blocking mode: the two ends
    // are separate open files.
    const int flags = ::fcntl(read_end.get(), F_GETFL);
    if (flags < 0 || ::fcntl(read_end.get(), F_SETFL, flags | O_NONBLOCK) != 0)
        ec.assign(errno, std::system_category());
    if (!ec) {
        ec = guarded([&] {
            object.core = std::make_shared<barrier_core>(state.executor, read_end.get());
            read_end.release();
        });
    }
    if (ec) {
        if (unset)
            ::unsetenv("NOTIFY_SOCKET");
        return ec;
    }
    const int passed[1] = {write_end.get()};
    ec = notify_once("BARRIER=1", passed, unset, sent);
    // From now on the manager's copy is the only write end.
    write_end.reset();
    return ec;
}

std::error_code start_barrier_wait(binding_state& state, barrier_object& object, wait_state& wait,
                                   lua_Number seconds) noexcept
{
    return guarded([&] {
        barrier_core& core = *object.core;
        core.timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(seconds)));
        core.timer.async_wait(barrier_handler{state.life, &state, &wait, object.core, true, {}});
        barrier_handler::wait_for_pipe(
            barrier_handler{state.life, &state, &wait, object.core, false, {}});
    });
}

int finish_barrier(lua_State* L, int, lua_KContext context)
{
    completed_wait_or_raise(L, context);
    lua_pushboolean(L, 1);
    return 1;
}

// systemd.notify_barrier([timeout[, unset]]) -> boolean
int notify_barrier(lua_State* L)
{
    binding_state& state = state_of(L);
    lua_Number seconds = default_barrier_seconds;
    if (!lua_isnoneornil(L, 1)) {
        if (lua_type(L, 1) != LUA_TNUMBER)
            raise_type_error(L, 1, "number");
        seconds = lua_tonumber(L, 1);
        if (!(seconds >= 0 && seconds <= max_barrier_seconds))
            raise_arg_error(L, 1, "timeout must be in [0, %f] seconds", max_barrier_seconds);
    }
    const bool unset = opt_boolean(L, 2);
    lua_settop(L, 2);
    // Made before the pipe, which it then owns whatever raises afterwards.
    auto* object = new_object<barrier_object>(L, barrier_type_name);
    bool sent = false;
    std::error_code ec = send_barrier(state, *object, unset, sent);
    if (ec)
        raise_error(L, ec);
    if (!sent) {
        lua_pushboolean(L, 0);
        return 1;
    }
    // The object is on the stack, so the waiting fiber anchors it. The wait
    // is cancelled as sleep's is, through its cancel_signal, to which the
    // pipe's wait is bound; the timer then completes nothing.
    wait_state& wait = begin_wait(L, state, cancel_by_signal);
    ec = start_barrier_wait(state, *object, wait, seconds);
    if (ec)
        raise_error(L, ec);
    return suspend(L, state, wait, kboundary<finish_barrier>);
}

// Socket activation ---------------------------------------------------------------

// Run protected: the descriptors not yet owned by a Lua object stay owned by
// the vector, which closes them should an allocation fail.
int push_listened(lua_State* L)
{
    auto& listened = *static_cast<std::vector<sd::listened_fd>*>(lua_touserdata(L, 1));
    const int count = static_cast<int>(listened.size());
    lua_createtable(L, count, 0);
    lua_createtable(L, count, 0);
    for (int at = 0; at < count; ++at) {
        sd::listened_fd& entry = listened[static_cast<std::size_t>(at)];
        lua_pushlstring(L, entry.name.data(), entry.name.size());
        lua_rawseti(L, -2, at + 1);
        push_fd(L, entry.fd);
        lua_rawseti(L, -3, at + 1);
    }
    return 2;
}

// systemd.listen_fds([unset]) -> {file_descriptor...}, {name...}
int listen_fds(lua_State* L)
{
    const bool unset = opt_boolean(L, 1);
    lua_settop(L, 1);
    int status = LUA_OK;
    std::error_code ec;
    {
        std::vector<sd::listened_fd> listened = sd::listen_fds({.unset_environment = unset}, ec);
        if (!ec) {
            lua_pushcfunction(L, push_listened);
            lua_pushlightuserdata(L, &listened);
            status = lua_pcall(L, 1, 2, 0);
        }
    }
    if (ec)
        raise_error(L, ec);
    if (status != LUA_OK)
        return lua_error(L);
    return 2;
}

// Addresses -------------------------------------------------------------------------

// systemd.parse_address(text) -> filesystem.path: "@name" is the abstract
// name (a leading NUL), anything else a path.
int parse_address(lua_State* L)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        raise_type_error(L, 1, "string");
    std::size_t length = 0;
    const char* text = lua_tolstring(L, 1, &length);
    std::error_code ec;
    const endpoint address = sd::parse_address(std::string_view(text, length), ec);
    if (ec)
        raise_error(L, ec);
    push_endpoint_path(L, address);
    return 1;
}

// The text form of an address, in a buffer that needs no destructor.
struct address_text {
    std::array<char, sizeof(sockaddr_un::sun_path) + 1> bytes{};
    std::size_t length = 0;
};

std::error_code format(const endpoint& address, address_text& text) noexcept
{
    return guarded([&] {
        const std::string formatted = sd::format_address(address);
        text.length = std::min(formatted.size(), text.bytes.size());
        std::memcpy(text.bytes.data(), formatted.data(), text.length);
    });
}

// systemd.format_address(path) -> string: "@name" for an abstract name.
int format_address(lua_State* L)
{
    const endpoint address = check_endpoint(L, 1);
    address_text text;
    if (std::error_code ec = format(address, text))
        raise_error(L, ec);
    lua_pushlstring(L, text.bytes.data(), text.length);
    return 1;
}

} // namespace

void open_systemd(lua_State* L, binding_state& state)
{
    static const luaL_Reg barrier_metamethods[] = {
        {"__gc", boundary<barrier_gc>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, barrier_type_name, {}, barrier_metamethods);
    push_metatable(L, barrier_type_name);
    lua_pushstring(L, barrier_type_name);
    lua_setfield(L, -2, "__metatable"); // scripts cannot reach __gc
    lua_pop(L, 1);

    static const luaL_Reg functions[] = {
        {"notify", boundary<notify>},
        {"notify_barrier", boundary<notify_barrier>},
        {"listen_fds", boundary<listen_fds>},
        {"parse_address", boundary<parse_address>},
        {"format_address", boundary<format_address>},
        {nullptr, nullptr},
    };
    lua_createtable(L, 0, static_cast<int>(std::size(functions)));
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
}

} // namespace unixdgram::lua::detail

// require "unixdgram.systemd" from stock lua5.4: Lua's all-in-one loader
// finds this in unixdgram.so.
extern "C" int luaopen_unixdgram_systemd(lua_State* L)
{
    luaopen_unixdgram(L);
    lua_getfield(L, -1, "systemd");
    return 1;
}
