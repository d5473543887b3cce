//
// bindings/lua/src/datagram_socket.cpp — unix.datagram_socket.
//
// Sends and receives try their system call at once (the C++ socket is put in
// non-blocking mode, and its std::error_code& form is called): when that
// succeeds the call returns without yielding or allocating. Only on EAGAIN does
// it start the C++ async_* operation and wait (see fiber.cpp).
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "binding.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

namespace unixdgram::lua::detail {

namespace {

constexpr int receive_flags_allowed = MSG_PEEK;

constexpr const char* option_names =
    "'debug', 'send_buffer_size', 'receive_buffer_size', 'pass_credentials', 'pass_pidfd', "
    "'peer_credentials' and 'peer_pidfd' (read only)";

// Runs one C++ socket call in its std::error_code& form; exceptions become codes.
template <typename F>
std::error_code call(F&& f) noexcept
{
    std::error_code ec;
    std::error_code thrown = guarded([&] { f(ec); });
    return thrown ? thrown : ec;
}

socket_object* check_socket(lua_State* L, int arg)
{
    return check<socket_object>(L, arg, socket_type_name);
}

socket_object* push_socket(lua_State* L, binding_state& state)
{
    auto* object = new_object<socket_object>(L, socket_type_name);
    std::error_code ec = guarded([&] { object->socket.emplace(state.executor); });
    if (ec)
        raise_error(L, ec);
    return object;
}

int check_flags(lua_State* L, int arg, int allowed)
{
    if (lua_isnoneornil(L, arg))
        return 0;
    auto flags = static_cast<int>(check_integer(L, arg, 0, INT_MAX));
    if ((flags & ~allowed) != 0)
        raise_arg_error(L, arg, "unsupported message flags %d (%s)", flags,
                        allowed ? "only unix.message_flag.peek applies here"
                                : "no message flag applies to sends");
    return flags;
}

void check_receive_buffer(lua_State* L, int arg, io_request& request)
{
    auto* span = static_cast<byte_span_object*>(test_object(L, arg, byte_span_type_name));
    if (!span)
        raise_type_error(L, arg, "byte_span");
    request.data = span->data;
    request.size = span->size;
}

void check_send_buffer(lua_State* L, int arg, io_request& request)
{
    const_bytes bytes = check_bytes(L, arg);
    request.data = const_cast<void*>(bytes.data);
    request.size = bytes.size;
}

std::size_t check_max_fds(lua_State* L, int arg)
{
    if (lua_type(L, arg) != LUA_TNUMBER)
        raise_type_error(L, arg, "integer");
    int is_integer = 0;
    lua_Integer max_fds = lua_tointegerx(L, arg, &is_integer);
    if (!is_integer)
        raise_arg_error(L, arg, "number has no integer representation");
    if (max_fds < 1)
        raise_arg_error(L, arg, "maxfds must be at least 1, got %I", max_fds);
    return static_cast<std::size_t>(
        std::min<lua_Integer>(max_fds, static_cast<lua_Integer>(max_fds_per_datagram)));
}

void check_fd_list(lua_State* L, int arg, io_request& request)
{
    request.fd_count = check_fd_table(L, arg, request.fds);
    request.fd_list_arg = arg;
}

// Takes what a receive reported into `outcome`; the sender's pidfd goes to the
// storage entry after the descriptors' room, which owns it until delivery.
void take_result(receive_result& result, io_outcome& outcome,
                 std::span<file_descriptor> storage, std::size_t max_fds) noexcept
{
    outcome.bytes = result.bytes;
    outcome.truncated = result.truncated;
    outcome.control_truncated = result.control_truncated;
    outcome.fd_count = result.fds.size();
    outcome.sender_credentials = result.sender_credentials;
    outcome.has_pidfd = static_cast<bool>(result.sender_pidfd);
    if (outcome.has_pidfd)
        storage[max_fds] = std::move(result.sender_pidfd);
}

// The descriptors of a send, as send_control takes them.
send_control control_of(const io_request& request) noexcept
{
    return {std::span<const int>(request.fds, request.fd_count), request.sender_credentials};
}

// The system call, once, without waiting.
void attempt_now(binding_state& state, socket_type& socket, const io_request& request,
                 io_outcome& outcome) noexcept
{
    std::error_code& ec = outcome.ec;
    if (request.is_send) {
        const endpoint* destination = request.has_address ? &request.destination : nullptr;
        outcome.bytes = socket.try_send_message(asio::const_buffer(request.data, request.size),
                                                destination, control_of(request), request.flags,
                                                ec);
        return;
    }
    std::span<file_descriptor> storage(state.fd_scratch);
    receive_result result = socket.try_receive_message(
        asio::mutable_buffer(request.data, request.size),
        request.has_address ? &outcome.sender : nullptr, storage.first(request.max_fds),
        request.flags, ec);
    take_result(result, outcome, storage, request.max_fds);
}

// Starts the async form; the wait owns copies of everything it reads.
std::error_code start_io(binding_state& state, socket_type& socket, wait_state& wait,
                         const io_request& request) noexcept
{
    wait.request = request;
    std::error_code ec = guarded([&] {
        io_request& held = wait.request;
        auto handler = bind_wait_handler(state, wait);
        if (!held.is_send) {
            if (wait.received_fds.size() < held.max_fds + 1)
                wait.received_fds.resize(held.max_fds + 1);
            socket.async_receive_message(asio::mutable_buffer(held.data, held.size),
                                         held.has_address ? &wait.outcome.sender : nullptr,
                                         std::span(wait.received_fds).first(held.max_fds),
                                         held.flags, std::move(handler));
            return;
        }
        // A waiting send holds its own copies of the descriptors, so closing
        // the caller's objects meanwhile cannot send some other file.
        wait.sent_fds.clear();
        for (std::size_t at = 0; at < held.fd_count; ++at) {
            int copy = ::fcntl(held.fds[at], F_DUPFD_CLOEXEC, 0);
            if (copy < 0)
                throw std::system_error(std::error_code(errno, std::system_category()), "dup");
            wait.sent_fds.emplace_back(copy);
            held.fds[at] = copy;
        }
        socket.async_send_message(asio::const_buffer(held.data, held.size),
                                  held.has_address ? &held.destination : nullptr,
                                  control_of(held), held.flags, std::move(handler));
    });
    if (ec)
        wait.sent_fds.clear();
    return ec;
}

void push_credentials(lua_State* L, const credentials& who)
{
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, who.pid);
    lua_setfield(L, -2, "pid");
    lua_pushinteger(L, who.uid);
    lua_setfield(L, -2, "uid");
    lua_pushinteger(L, who.gid);
    lua_setfield(L, -2, "gid");
}

// Received descriptors on their way into Lua objects. They leave their C++
// owners before anything is allocated: an allocation may run a finalizer
// that receives again into the same scratch entries.
struct fd_delivery {
    int fds[max_fds_per_datagram];
    std::size_t count = 0;
    bool as_table = false; // the descriptors as a table (the _with_fds receives)
    int pidfd = -1;
};

// Run protected: a memory error here must not lose the descriptors not yet
// owned by a Lua object. Pushes the table of descriptors (if asked for),
// then the pidfd object (if any).
int push_delivered(lua_State* L)
{
    auto* delivery = static_cast<fd_delivery*>(lua_touserdata(L, 1));
    int results = 0;
    if (delivery->as_table) {
        lua_createtable(L, static_cast<int>(delivery->count), 0);
        for (std::size_t at = 0; at < delivery->count; ++at) {
            fd_object* object = new_object<fd_object>(L, fd_type_name);
            object->fd = std::exchange(delivery->fds[at], -1);
            lua_rawseti(L, -2, static_cast<lua_Integer>(at + 1));
        }
        ++results;
    }
    if (delivery->pidfd >= 0) {
        fd_object* object = new_object<fd_object>(L, fd_type_name);
        object->fd = std::exchange(delivery->pidfd, -1);
        ++results;
    }
    return results;
}

int push_delivery(lua_State* L, fd_delivery& delivery)
{
    const int expected = (delivery.as_table ? 1 : 0) + (delivery.pidfd >= 0 ? 1 : 0);
    lua_pushcfunction(L, push_delivered);
    lua_pushlightuserdata(L, &delivery);
    if (lua_pcall(L, 1, expected, 0) != LUA_OK) {
        for (std::size_t at = 0; at < delivery.count; ++at) {
            if (delivery.fds[at] >= 0)
                ::close(delivery.fds[at]);
        }
        if (delivery.pidfd >= 0)
            ::close(delivery.pidfd);
        lua_error(L);
    }
    return expected;
}

// A sender with no address (a socketpair peer, or an unbound socket).
bool is_unnamed(const endpoint& address) noexcept
{
    return address.size() <= offsetof(sockaddr_un, sun_path);
}

// The results of a completed send or receive, or its error: the count,
// then for receive_from* the sender's path, for *_with_fds the table of
// descriptors, then the message flags, the sender's credentials (nil when
// none came) and its pidfd, those two only when they came.
int push_outcome(lua_State* L, const io_request& request, io_outcome& outcome,
                 std::span<file_descriptor> storage)
{
    if (outcome.ec)
        raise_error(L, outcome.ec);
    if (request.is_send) {
        lua_pushinteger(L, static_cast<lua_Integer>(outcome.bytes));
        return 1;
    }
    fd_delivery delivery;
    delivery.as_table = request.max_fds > 0;
    for (std::size_t at = 0; at < outcome.fd_count; ++at)
        delivery.fds[at] = storage[at].release();
    delivery.count = outcome.fd_count;
    if (outcome.has_pidfd)
        delivery.pidfd = storage[request.max_fds].release();
    const std::optional<credentials> sender_credentials = outcome.sender_credentials;
    const bool with_pidfd = delivery.pidfd >= 0;
    const int base = lua_gettop(L);
    lua_pushinteger(L, static_cast<lua_Integer>(outcome.bytes));
    // The descriptors become Lua objects first; the sender's path, which
    // comes before them among the results, is allocated afterwards.
    int sender_index = 0;
    if (request.has_address) {
        lua_pushnil(L);
        sender_index = lua_gettop(L);
    }
    push_delivery(L, delivery);
    const int pidfd_index = with_pidfd ? lua_gettop(L) : 0;
    // An unnamed sender's path is empty from receive_from and nil (left
    // in place) from receive_from_with_fds, as in Emilua.
    if (sender_index && !(delivery.as_table && is_unnamed(outcome.sender))) {
        push_endpoint_path(L, outcome.sender);
        lua_replace(L, sender_index);
    }
    lua_pushinteger(L, (outcome.truncated ? MSG_TRUNC : 0) |
                           (outcome.control_truncated ? MSG_CTRUNC : 0));
    if (sender_credentials)
        push_credentials(L, *sender_credentials);
    else if (with_pidfd)
        lua_pushnil(L);
    if (with_pidfd)
        lua_rotate(L, pidfd_index, -1); // last among the results
    return lua_gettop(L) - base;
}

int finish_io(lua_State* L, int, lua_KContext context)
{
    wait_state* wait = completed_wait(L, context);
    raise_if_interrupted(L, state_of(L), wait->outcome.ec);
    return push_outcome(L, wait->request, wait->outcome, wait->received_fds);
}

// Every send and receive, once its arguments are checked.
int perform(lua_State* L, io_request& request)
{
    binding_state& state = state_of(L);
    io_outcome outcome;
    attempt_now(state, live_socket(L, request.object), request, outcome);
    if (outcome.ec != asio::error::would_block)
        return push_outcome(L, request, outcome, state.fd_scratch);
    wait_state& wait = begin_wait(L, state, wait_kind::io);
    // begin_wait allocates, and a finalizer may have run any Lua there: the
    // socket may be gone (__close), and the descriptor numbers read from the
    // file_descriptors may name other files now. Both are read again, with
    // no allocation between that and start_io's duplicating them.
    socket_type& socket = live_socket(L, request.object);
    if (request.fd_list_arg)
        check_fd_list(L, request.fd_list_arg, request);
    std::error_code ec = start_io(state, socket, wait, request);
    if (ec)
        raise_error(L, ec);
    return suspend(L, state, wait, kboundary<finish_io>);
}

// The receives: receive(buffer[, flags]), receive_from(buffer[, flags]),
// receive_with_fds(buffer, maxfds[, flags]), receive_from_with_fds(...).
template <bool WithSender, bool WithFds>
int socket_receive_any(lua_State* L)
{
    io_request request;
    request.has_address = WithSender;
    request.object = check_socket(L, 1);
    check_receive_buffer(L, 2, request);
    if constexpr (WithFds)
        request.max_fds = check_max_fds(L, 3);
    request.flags = check_flags(L, WithFds ? 4 : 3, receive_flags_allowed);
    return perform(L, request);
}

// The sends: send(data[, flags]), send_to(data, path[, flags]),
// send_with_fds(data, fds[, flags]), send_to_with_fds(data, path, fds[, flags]).
template <bool WithDestination, bool WithFds>
int socket_send_any(lua_State* L)
{
    io_request request;
    request.is_send = true;
    request.object = check_socket(L, 1);
    check_send_buffer(L, 2, request);
    int arg = 3;
    if constexpr (WithDestination) {
        request.has_address = true;
        request.destination = check_endpoint(L, arg++);
    }
    if constexpr (WithFds)
        check_fd_list(L, arg++, request);
    request.flags = check_flags(L, arg, 0);
    return perform(L, request);
}


// The integer field `key` of the credentials table at `index`, in [0, high];
// errors name argument `arg`, the options.
lua_Integer check_credentials_field(lua_State* L, int index, int arg, const char* key,
                                    lua_Integer high)
{
    lua_getfield(L, index, key);
    int is_integer = 0;
    lua_Integer value = lua_tointegerx(L, -1, &is_integer);
    if (!is_integer || value < 0 || value > high)
        raise_arg_error(L, arg, "field 'credentials.%s' must be an integer from 0 to %I", key,
                        high);
    lua_pop(L, 1);
    return value;
}

// sock:send_message(data[, {to = path, fds = {...}, credentials = {pid =, uid =,
// gid =}, flags = n}]): the general send, of which the four named sends are
// the cases without credentials. The options' values stay on the stack, where
// perform reads the descriptors again after allocating.
int socket_send_message(lua_State* L)
{
    constexpr int options_arg = 3;
    io_request request;
    request.is_send = true;
    request.object = check_socket(L, 1);
    check_send_buffer(L, 2, request);
    if (lua_isnoneornil(L, options_arg)) {
        lua_settop(L, 2);
        return perform(L, request);
    }
    if (lua_type(L, options_arg) != LUA_TTABLE)
        raise_type_error(L, options_arg, "table of send options");
    lua_settop(L, options_arg);
    const int to_index = options_arg + 1;
    const int fds_index = options_arg + 2;
    lua_getfield(L, options_arg, "to");
    lua_getfield(L, options_arg, "fds");
    if (!lua_isnil(L, to_index)) {
        request.has_address = true;
        request.destination = check_endpoint(L, to_index);
    }
    if (!lua_isnil(L, fds_index))
        check_fd_list(L, fds_index, request);
    if (lua_getfield(L, options_arg, "credentials") != LUA_TNIL) {
        const int credentials_index = lua_gettop(L);
        if (!lua_istable(L, credentials_index))
            raise_arg_error(L, options_arg, "field 'credentials' must be a table {pid, uid, gid}");
        request.sender_credentials = credentials{
            static_cast<pid_t>(
                check_credentials_field(L, credentials_index, options_arg, "pid", INT_MAX)),
            static_cast<uid_t>(
                check_credentials_field(L, credentials_index, options_arg, "uid", UINT_MAX)),
            static_cast<gid_t>(
                check_credentials_field(L, credentials_index, options_arg, "gid", UINT_MAX))};
    }
    lua_pop(L, 1);
    lua_getfield(L, options_arg, "flags");
    request.flags = check_flags(L, lua_gettop(L), 0);
    lua_pop(L, 1);
    return perform(L, request);
}

// Batches ------------------------------------------------------------------------

// recvmmsg and sendmmsg take at most UIO_MAXIOV entries; a longer table is
// refused rather than split into calls the caller did not ask for.
constexpr lua_Unsigned max_batch_entries = 1024;

// The length of the batch table at `arg`: from 1 to max_batch_entries.
std::size_t check_batch_length(lua_State* L, int arg, const char* expected)
{
    if (lua_type(L, arg) != LUA_TTABLE)
        raise_type_error(L, arg, expected);
    lua_Unsigned count = lua_rawlen(L, arg);
    if (count == 0)
        raise_arg_error(L, arg, "empty batch: at least one entry is needed");
    if (count > max_batch_entries)
        raise_arg_error(L, arg, "%I entries, at most %d fit in one batch",
                        static_cast<lua_Integer>(count), static_cast<int>(max_batch_entries));
    return static_cast<std::size_t>(count);
}

// Grows `entries` before the entries are checked, so that a raise never
// interrupts the vector's own code.
template <typename Entry>
void reserve_entries(lua_State* L, std::vector<Entry>& entries, std::size_t count)
{
    if (entries.size() >= count)
        return;
    std::error_code ec = guarded([&] { entries.resize(count); });
    if (ec)
        raise_error(L, ec);
}

// Sizes a wait's own entries to `count` (their storage is kept between waits).
template <typename Entry>
std::error_code reserve_wait_entries(std::vector<Entry>& entries, std::size_t count) noexcept
{
    return guarded([&] { entries.resize(count); });
}

// The byte_span at `index`, or null; `metatable` is byte_span's metatable,
// fetched once per batch rather than looked up by name per entry.
byte_span_object* to_byte_span(lua_State* L, int index, int metatable)
{
    auto* span = static_cast<byte_span_object*>(lua_touserdata(L, index));
    if (!span || !lua_getmetatable(L, index))
        return nullptr;
    bool is_span = lua_rawequal(L, -1, metatable);
    lua_pop(L, 1);
    return is_span ? span : nullptr;
}

// Entry `at` (0-based) of the batch table at `arg`, found at stack `index`:
// where a receive_many entry writes, or what a send_many entry sends.
receive_entry receive_entry_at(lua_State* L, int index, int metatable, int arg, std::size_t at)
{
    byte_span_object* span = to_byte_span(L, index, metatable);
    if (!span)
        raise_arg_error(L, arg, "byte_span expected at index %I, got %s",
                        static_cast<lua_Integer>(at + 1), type_name(L, index));
    receive_entry entry;
    entry.buffer = asio::mutable_buffer(span->data, span->size);
    return entry;
}

send_entry send_entry_at(lua_State* L, int index, int metatable, int arg, std::size_t at)
{
    if (lua_type(L, index) == LUA_TSTRING) {
        std::size_t length = 0;
        const char* text = lua_tolstring(L, index, &length);
        return send_entry{asio::const_buffer(text, length)};
    }
    if (byte_span_object* span = to_byte_span(L, index, metatable))
        return send_entry{asio::const_buffer(span->data, span->size)};
    raise_arg_error(L, arg, "byte_span or string expected at index %I, got %s",
                    static_cast<lua_Integer>(at + 1), type_name(L, index));
}

// Reads `count` entries into `entries`: from the table at `arg`, or, when
// `first_on_stack` is given, from the stack slots starting there.
template <typename Entry, typename Read>
void read_entries(lua_State* L, int arg, int first_on_stack, std::size_t count,
                  std::vector<Entry>& entries, Read read)
{
    push_metatable(L, byte_span_type_name);
    int metatable = lua_gettop(L);
    for (std::size_t at = 0; at < count; ++at) {
        if (first_on_stack) {
            entries[at] = read(L, first_on_stack + static_cast<int>(at), metatable, arg, at);
        } else {
            lua_rawgeti(L, arg, static_cast<lua_Integer>(at + 1));
            entries[at] = read(L, -1, metatable, arg, at);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

// The byte_spans in the table at `arg`, into state.receive_batch.
std::size_t check_receive_spans(lua_State* L, int arg, binding_state& state)
{
    std::size_t count = check_batch_length(L, arg, "table of byte_span");
    reserve_entries(L, state.receive_batch, count);
    read_entries(L, arg, 0, count, state.receive_batch, receive_entry_at);
    return count;
}

// The datagrams (strings or byte_spans) in the table at `arg`, into
// state.send_batch. The entries point into the strings and spans, which the
// table keeps alive for the call (and the stack, should it wait).
std::size_t check_send_datagrams(lua_State* L, int arg, binding_state& state)
{
    std::size_t count = check_batch_length(L, arg, "table of byte_span or string");
    reserve_entries(L, state.send_batch, count);
    read_entries(L, arg, 0, count, state.send_batch, send_entry_at);
    return count;
}

// A waiting batch points into the table's strings and spans; another fiber
// may empty the table meanwhile, so the entries also go on this call's
// stack, where begin_wait finds them and has the fiber hold them until the
// call resumes. Returns the stack index of the first.
int anchor_entries(lua_State* L, int arg, std::size_t count)
{
    luaL_checkstack(L, static_cast<int>(count), "too many entries to hold while waiting");
    int first = lua_gettop(L) + 1;
    for (std::size_t at = 1; at <= count; ++at)
        lua_rawgeti(L, arg, static_cast<lua_Integer>(at));
    return first;
}

// One batch call in the socket's non-blocking mode, as attempt_now does.
template <typename F>
std::error_code call_non_blocking(socket_type& socket, F&& f) noexcept
{
    return call([&](std::error_code& ec) {
        if (!socket.non_blocking()) {
            socket.non_blocking(true, ec);
            if (ec)
                return;
        }
        f(ec);
    });
}

// The length of each datagram into the table at `lengths`; returns the
// count and the flags (truncated when any datagram was longer than its span).
int push_received_batch(lua_State* L, std::error_code ec, int lengths,
                        std::span<const receive_entry> entries)
{
    if (ec)
        raise_error(L, ec);
    // Read before the first allocation: growing the lengths table may run a
    // finalizer that receives a batch into the same entries.
    lua_Integer received_lengths[max_batch_entries];
    int flags = 0;
    for (std::size_t at = 0; at < entries.size(); ++at) {
        received_lengths[at] = static_cast<lua_Integer>(entries[at].bytes);
        flags |= (entries[at].truncated ? MSG_TRUNC : 0) |
                 (entries[at].control_truncated ? MSG_CTRUNC : 0);
    }
    for (std::size_t at = 0; at < entries.size(); ++at) {
        lua_pushinteger(L, received_lengths[at]);
        lua_rawseti(L, lengths, static_cast<lua_Integer>(at + 1));
    }
    lua_pushinteger(L, static_cast<lua_Integer>(entries.size()));
    lua_pushinteger(L, flags);
    return 2;
}

// Argument 3 of receive_many: the table the lengths go into.
constexpr int receive_many_lengths = 3;

int finish_receive_many(lua_State* L, int, lua_KContext context)
{
    wait_state* wait = completed_wait(L, context);
    raise_if_interrupted(L, state_of(L), wait->outcome.ec);
    std::span<const receive_entry> filled(wait->receive_entries.data(), wait->outcome.bytes);
    return push_received_batch(L, wait->outcome.ec, receive_many_lengths, filled);
}

std::error_code start_receive_many(binding_state& state, socket_type& socket, wait_state& wait,
                                   socket_object* object, int flags) noexcept
{
    wait.request.object = object; // what cancel_wait cancels
    return guarded([&] {
        socket.async_receive_many(wait.receive_entries, flags, bind_wait_handler(state, wait));
    });
}

// sock:receive_many(spans, lengths[, flags]) -> count, flags. Waits for one
// datagram, then takes as many more as are queued, one per span.
int socket_receive_many(lua_State* L)
{
    binding_state& state = state_of(L);
    socket_object* object = check_socket(L, 1);
    std::size_t count = check_receive_spans(L, 2, state);
    if (lua_type(L, receive_many_lengths) != LUA_TTABLE)
        raise_type_error(L, receive_many_lengths, "table (for the lengths)");
    // No MSG_PEEK: recvmmsg would fill every entry with the same datagram.
    int flags = check_flags(L, 4, 0);
    std::size_t received = 0;
    std::error_code ec;
    {
        // Nothing allocates while `entries` points into the shared batch.
        socket_type& socket = live_socket(L, object);
        std::span<receive_entry> entries(state.receive_batch.data(), count);
        ec = call_non_blocking(socket, [&](std::error_code& ec) {
            received = socket.receive_many(entries, flags, ec);
        });
        if (!unixdgram::detail::is_would_block(ec))
            return push_received_batch(L, ec, receive_many_lengths, entries.first(received));
    }
    int first_entry = anchor_entries(L, 2, count); // before begin_wait, which anchors the stack
    wait_state& wait = begin_wait(L, state, wait_kind::io);
    // Allocating the wait and the anchors may have run a finalizer that made
    // a larger batch call (moving the shared batch), changed the table or
    // closed the socket: the entries are read again, from the anchored
    // copies, into the wait's own storage, and the socket is looked up again.
    ec = reserve_wait_entries(wait.receive_entries, count);
    if (ec)
        raise_error(L, ec);
    read_entries(L, 2, first_entry, count, wait.receive_entries, receive_entry_at);
    ec = start_receive_many(state, live_socket(L, object), wait, object, flags);
    if (ec)
        raise_error(L, ec);
    return suspend(L, state, wait, kboundary<finish_receive_many>);
}

// A failed send_many raises an error whose field `sent` says how many
// datagrams went before the failure, so that a retry sends no duplicate.
[[noreturn]] void raise_send_many_error(lua_State* L, std::error_code ec, std::size_t sent)
{
    push_error(L, ec);
    lua_pushinteger(L, static_cast<lua_Integer>(sent));
    lua_setfield(L, -2, "sent");
    lua_error(L);
    std::abort(); // lua_error does not return
}

int finish_send_many(lua_State* L, int, lua_KContext context)
{
    wait_state* wait = completed_wait(L, context);
    const std::size_t sent = wait->sent_before_wait + wait->outcome.bytes;
    std::error_code ec = interruption_or(state_of(L), wait->outcome.ec);
    if (ec)
        raise_send_many_error(L, ec, sent);
    lua_pushinteger(L, static_cast<lua_Integer>(sent));
    return 1;
}

std::error_code start_send_many(binding_state& state, socket_type& socket, wait_state& wait,
                                socket_object* object, std::size_t sent, int flags) noexcept
{
    wait.request.object = object;
    wait.sent_before_wait = sent;
    return guarded([&] {
        // The entries not sent yet; erasing keeps the vector's storage.
        wait.send_entries.erase(wait.send_entries.begin(),
                                wait.send_entries.begin() + static_cast<std::ptrdiff_t>(sent));
        socket.async_send_many(wait.send_entries, flags, bind_wait_handler(state, wait));
    });
}

// sock:send_many(datagrams[, flags]) -> count: every string or byte_span of
// the table as one datagram to the connected peer, in order, waiting for
// room as send does.
int socket_send_many(lua_State* L)
{
    binding_state& state = state_of(L);
    socket_object* object = check_socket(L, 1);
    std::size_t count = check_send_datagrams(L, 2, state);
    int flags = check_flags(L, 3, 0);
    std::size_t sent = 0;
    std::error_code ec;
    {
        // Nothing allocates while `entries` points into the shared batch.
        socket_type& socket = live_socket(L, object);
        std::span<send_entry> entries(state.send_batch.data(), count);
        ec = call_non_blocking(
            socket, [&](std::error_code& ec) { sent = socket.send_many(entries, flags, ec); });
    }
    if (!unixdgram::detail::is_would_block(ec)) {
        if (ec)
            raise_send_many_error(L, ec, sent);
        lua_pushinteger(L, static_cast<lua_Integer>(sent));
        return 1;
    }
    int first_entry = anchor_entries(L, 2, count); // before begin_wait, which anchors the stack
    wait_state& wait = begin_wait(L, state, wait_kind::io);
    // As in receive_many: read again into the wait's own storage.
    ec = reserve_wait_entries(wait.send_entries, count);
    if (ec)
        raise_send_many_error(L, ec, sent);
    read_entries(L, 2, first_entry, count, wait.send_entries, send_entry_at);
    ec = start_send_many(state, live_socket(L, object), wait, object, sent, flags);
    if (ec)
        raise_send_many_error(L, ec, sent);
    return suspend(L, state, wait, kboundary<finish_send_many>);
}

// Lifetime -----------------------------------------------------------------------

int socket_new(lua_State* L)
{
    binding_state& state = state_of(L);
    bool adopt = !lua_isnoneornil(L, 1);
    if (adopt)
        check_open_fd(L, 1); // an argument error before any allocation
    socket_object* object = push_socket(L, state);
    if (adopt) {
        // Checked again: making the socket may have run a finalizer that
        // closed the descriptor (and another file may have its number now).
        fd_object* fd = check_open_fd(L, 1);
        std::error_code ec = call([&](std::error_code& ec) { object->socket->assign(fd->fd, ec); });
        if (ec)
            raise_error(L, ec);
        fd->fd = -1; // the socket owns it now
    }
    return 1;
}

int socket_pair(lua_State* L)
{
    binding_state& state = state_of(L);
    socket_object* first = push_socket(L, state);
    socket_object* second = push_socket(L, state);
    std::error_code ec = call(
        [&](std::error_code& ec) { unixdgram::connect_pair(*first->socket, *second->socket, ec); });
    if (ec)
        raise_error(L, ec);
    return 2;
}

int socket_open(lua_State* L)
{
    binding_state& state = state_of(L);
    socket_object* object = check_socket(L, 1);
    std::error_code ec = call([&](std::error_code& ec) {
        if (!object->socket)
            object->socket.emplace(state.executor);
        object->socket->open(ec);
    });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_assign(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    fd_object* fd = check_open_fd(L, 2);
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) { socket.assign(fd->fd, ec); });
    if (ec)
        raise_error(L, ec);
    fd->fd = -1;
    return 0;
}

int socket_release(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    live_socket(L, object); // EBADF before allocating
    auto* fd = new_object<fd_object>(L, fd_type_name);
    // After the allocation, which may have run a finalizer that closed the socket.
    socket_type& socket = live_socket(L, object);
    int released = -1;
    std::error_code ec = call([&](std::error_code& ec) { released = socket.release(ec); });
    if (ec)
        raise_error(L, ec);
    fd->fd = released;
    return 1;
}

int socket_close(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    if (!object->socket)
        return 0;
    std::error_code ec = call([&](std::error_code& ec) { object->socket->close(ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

// __gc and __close: destroys the C++ socket, which closes it and aborts its
// operations; the object stays, as a closed socket open() can reopen.
int socket_gc(lua_State* L)
{
    check_socket(L, 1)->socket.reset();
    return 0;
}

int socket_cancel(lua_State* L)
{
    socket_type& socket = live_socket(L, check_socket(L, 1));
    std::error_code ec = call([&](std::error_code& ec) { socket.cancel(ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

// Addresses ----------------------------------------------------------------------

int socket_bind(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    endpoint address = check_endpoint(L, 2);
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) { socket.bind(address, ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_connect(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    endpoint address = check_endpoint(L, 2);
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) { socket.connect(address, ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_disconnect(lua_State* L)
{
    socket_type& socket = live_socket(L, check_socket(L, 1));
    std::error_code ec = call([&](std::error_code& ec) { socket.disconnect(ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_shutdown(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    static const char* const names[] = {"receive", "send", "both", nullptr};
    static const socket_type::shutdown_type values[] = {
        socket_type::shutdown_type::shutdown_receive,
        socket_type::shutdown_type::shutdown_send,
        socket_type::shutdown_type::shutdown_both,
    };
    if (lua_type(L, 2) != LUA_TSTRING)
        raise_type_error(L, 2, "string ('receive', 'send' or 'both')");
    const char* what = lua_tostring(L, 2);
    int choice = 0;
    while (names[choice] && std::strcmp(names[choice], what) != 0)
        ++choice;
    if (!names[choice])
        raise_arg_error(L, 2, "invalid shutdown '%s': expected 'receive', 'send' or 'both'", what);
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) { socket.shutdown(values[choice], ec); });
    if (ec)
        raise_error(L, ec);
    return 0;
}

// Options and controls -------------------------------------------------------------

enum class option {
    debug,
    send_buffer_size,
    receive_buffer_size,
    pass_credentials,
    peer_credentials,
    pass_pidfd,
    peer_pidfd
};

option check_option(lua_State* L, int arg)
{
    static const char* const names[] = {
        "debug",           "send_buffer_size", "receive_buffer_size", "pass_credentials",
        "peer_credentials", "pass_pidfd",      "peer_pidfd",          nullptr};
    if (lua_type(L, arg) != LUA_TSTRING)
        raise_type_error(L, arg, "string");
    const char* name = lua_tostring(L, arg);
    int choice = 0;
    while (names[choice] && std::strcmp(names[choice], name) != 0)
        ++choice;
    if (!names[choice])
        raise_arg_error_as(L, std::errc::not_supported, arg,
                           "unknown option '%s'; known options: %s", name, option_names);
    return static_cast<option>(choice);
}

bool check_boolean(lua_State* L, int arg)
{
    if (lua_type(L, arg) != LUA_TBOOLEAN)
        raise_type_error(L, arg, "boolean");
    return lua_toboolean(L, arg) != 0;
}

int socket_set_option(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    option which = check_option(L, 2);
    bool flag = false;
    int size = 0;
    switch (which) {
    case option::debug:
    case option::pass_credentials:
    case option::pass_pidfd:
        flag = check_boolean(L, 3);
        break;
    case option::send_buffer_size:
    case option::receive_buffer_size:
        size = static_cast<int>(check_integer(L, 3, 0, INT_MAX));
        break;
    case option::peer_credentials:
    case option::peer_pidfd:
        raise_arg_error(L, 2, "option '%s' is read only", lua_tostring(L, 2));
    }
    socket_type& socket = live_socket(L, object);
    std::error_code ec = call([&](std::error_code& ec) {
        switch (which) {
        case option::debug:
            socket.set_option(socket_type::debug(flag), ec);
            break;
        case option::pass_credentials:
            socket.set_option(socket_type::pass_credentials(flag), ec);
            break;
        case option::pass_pidfd:
            socket.set_option(socket_type::pass_pidfd(flag), ec);
            break;
        case option::send_buffer_size:
            socket.set_option(socket_type::send_buffer_size(size), ec);
            break;
        case option::receive_buffer_size:
            socket.set_option(socket_type::receive_buffer_size(size), ec);
            break;
        case option::peer_credentials:
        case option::peer_pidfd:
            break;
        }
    });
    if (ec)
        raise_error(L, ec);
    return 0;
}

int socket_get_option(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    option which = check_option(L, 2);
    socket_type& socket = live_socket(L, object);
    bool flag = false;
    int size = 0;
    credentials peer;
    int peer_pidfd = -1; // owned here until a Lua object holds it
    std::error_code ec = call([&](std::error_code& ec) {
        switch (which) {
        case option::debug: {
            socket_type::debug value;
            socket.get_option(value, ec);
            flag = value.value();
            break;
        }
        case option::pass_credentials: {
            socket_type::pass_credentials value;
            socket.get_option(value, ec);
            flag = value.value();
            break;
        }
        case option::pass_pidfd: {
            socket_type::pass_pidfd value;
            socket.get_option(value, ec);
            flag = value.value();
            break;
        }
        case option::send_buffer_size: {
            socket_type::send_buffer_size value;
            socket.get_option(value, ec);
            size = value.value();
            break;
        }
        case option::receive_buffer_size: {
            socket_type::receive_buffer_size value;
            socket.get_option(value, ec);
            size = value.value();
            break;
        }
        case option::peer_credentials:
            peer = socket.peer_credentials(ec);
            break;
        case option::peer_pidfd:
            peer_pidfd = socket.peer_pidfd(ec).release();
            break;
        }
    });
    if (ec)
        raise_error(L, ec);
    switch (which) {
    case option::debug:
    case option::pass_credentials:
    case option::pass_pidfd:
        lua_pushboolean(L, flag);
        break;
    case option::send_buffer_size:
    case option::receive_buffer_size:
        lua_pushinteger(L, size);
        break;
    case option::peer_credentials:
        push_credentials(L, peer);
        break;
    case option::peer_pidfd: {
        fd_delivery delivery;
        delivery.pidfd = peer_pidfd;
        push_delivery(L, delivery);
        break;
    }
    }
    return 1;
}

int socket_io_control(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING)
        raise_type_error(L, 2, "string");
    const char* command = lua_tostring(L, 2);
    if (std::strcmp(command, "bytes_readable") != 0)
        raise_arg_error_as(L, std::errc::not_supported, 2,
                           "unknown io_control command '%s'; known commands: 'bytes_readable'",
                           command);
    if (!lua_isnone(L, 3))
        raise_arg_error(L, 3, "'bytes_readable' takes no arguments");
    socket_type& socket = live_socket(L, object);
    std::size_t bytes = 0;
    std::error_code ec = call([&](std::error_code& ec) { bytes = socket.bytes_readable(ec); });
    if (ec)
        raise_error(L, ec);
    lua_pushinteger(L, static_cast<lua_Integer>(bytes));
    return 1;
}

// Properties and metamethods ---------------------------------------------------------

int push_address(lua_State* L, socket_object* object, bool remote)
{
    socket_type& socket = live_socket(L, object);
    endpoint address;
    std::error_code ec = call([&](std::error_code& ec) {
        address = remote ? socket.remote_endpoint(ec) : socket.local_endpoint(ec);
    });
    if (ec)
        raise_error(L, ec);
    push_endpoint_path(L, address);
    return 1;
}

int socket_index(lua_State* L)
{
    // Every method call comes through here: a method is found without
    // checking the object, which only the properties below read.
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING)
        return 1;
    socket_object* object = check_socket(L, 1);
    const char* key = lua_tostring(L, 2);
    if (std::strcmp(key, "is_open") == 0) {
        lua_pushboolean(L, object->socket && object->socket->is_open());
        return 1;
    }
    if (std::strcmp(key, "local_path") == 0)
        return push_address(L, object, false);
    if (std::strcmp(key, "remote_path") == 0)
        return push_address(L, object, true);
    return 1; // nil
}

int socket_tostring(lua_State* L)
{
    socket_object* object = check_socket(L, 1);
    if (object->socket && object->socket->is_open())
        lua_pushfstring(L, "unix.datagram_socket (fd %d)", object->socket->native_handle());
    else
        lua_pushliteral(L, "unix.datagram_socket (closed)");
    return 1;
}

} // namespace

std::size_t check_fd_table(lua_State* L, int arg, int (&out)[max_fds_per_datagram])
{
    if (lua_type(L, arg) != LUA_TTABLE)
        raise_type_error(L, arg, "table of file_descriptor");
    lua_Unsigned count = lua_rawlen(L, arg);
    if (count > max_fds_per_datagram) {
        char detail[96];
        std::snprintf(detail, sizeof detail,
                      "%llu file descriptors, at most %zu fit in one datagram",
                      static_cast<unsigned long long>(count), max_fds_per_datagram);
        raise_arg_error_text(L, unixdgram::error::too_many_fds, arg, detail);
    }
    for (lua_Unsigned at = 1; at <= count; ++at) {
        lua_rawgeti(L, arg, static_cast<lua_Integer>(at));
        auto* fd = static_cast<fd_object*>(test_object(L, -1, fd_type_name));
        if (!fd)
            raise_arg_error(L, arg, "file_descriptor expected at index %I, got %s",
                            static_cast<lua_Integer>(at), type_name(L, -1));
        if (fd->fd < 0)
            raise_arg_error_as(L, std::errc::device_or_resource_busy, arg,
                               "file_descriptor at index %I is closed",
                               static_cast<lua_Integer>(at));
        out[at - 1] = fd->fd;
        lua_pop(L, 1);
    }
    return static_cast<std::size_t>(count);
}

void wait_handler::operator()(std::error_code ec, std::size_t bytes)
{
    if (!life->alive)
        return;
    io_outcome& outcome = wait->outcome;
    outcome.ec = ec;
    outcome.bytes = bytes;
    if (ec == unixdgram::error::message_truncated) {
        outcome.ec.clear();
        outcome.truncated = true;
    }
    wait->sent_fds.clear();
    complete_wait(*state, *wait);
}

void wait_handler::operator()(std::error_code ec, receive_result result)
{
    if (!life->alive)
        return;
    wait->outcome.ec = ec;
    take_result(result, wait->outcome, wait->received_fds, wait->request.max_fds);
    complete_wait(*state, *wait);
}

void open_datagram_socket(lua_State* L, binding_state& state)
{
    static const luaL_Reg methods[] = {
        {"open", boundary<socket_open>},
        {"bind", boundary<socket_bind>},
        {"connect", boundary<socket_connect>},
        {"disconnect", boundary<socket_disconnect>},
        {"close", boundary<socket_close>},
        {"shutdown", boundary<socket_shutdown>},
        {"cancel", boundary<socket_cancel>},
        {"assign", boundary<socket_assign>},
        {"release", boundary<socket_release>},
        {"receive", boundary<socket_receive_any<false, false>>},
        {"receive_from", boundary<socket_receive_any<true, false>>},
        {"send", boundary<socket_send_any<false, false>>},
        {"send_to", boundary<socket_send_any<true, false>>},
        {"receive_with_fds", boundary<socket_receive_any<false, true>>},
        {"receive_from_with_fds", boundary<socket_receive_any<true, true>>},
        {"send_with_fds", boundary<socket_send_any<false, true>>},
        {"send_to_with_fds", boundary<socket_send_any<true, true>>},
        {"send_message", boundary<socket_send_message>},
        {"receive_many", boundary<socket_receive_many>},
        {"send_many", boundary<socket_send_many>},
        {"set_option", boundary<socket_set_option>},
        {"get_option", boundary<socket_get_option>},
        {"io_control", boundary<socket_io_control>},
        {nullptr, nullptr},
    };
    static const luaL_Reg metamethods[] = {
        {"__gc", boundary<socket_gc>},
        {"__close", boundary<socket_gc>},
        {"__tostring", boundary<socket_tostring>},
        {nullptr, nullptr},
    };
    create_metatable(L, state, socket_type_name, methods, metamethods, boundary<socket_index>);

    static const luaL_Reg functions[] = {
        {"new", boundary<socket_new>},
        {"pair", boundary<socket_pair>},
        {nullptr, nullptr},
    };
    lua_newtable(L); // unix
    lua_newtable(L); // unix.datagram_socket
    lua_pushlightuserdata(L, &state);
    luaL_setfuncs(L, functions, 1);
    lua_setfield(L, -2, "datagram_socket");
    lua_createtable(L, 0, 3); // unix.message_flag
    lua_pushinteger(L, MSG_PEEK);
    lua_setfield(L, -2, "peek");
    lua_pushinteger(L, MSG_TRUNC);
    lua_setfield(L, -2, "truncated");
    lua_pushinteger(L, MSG_CTRUNC);
    lua_setfield(L, -2, "control_truncated");
    lua_setfield(L, -2, "message_flag");
}

} // namespace unixdgram::lua::detail
