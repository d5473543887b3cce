//
// bindings/lua/src/socket_io.cpp — unix.datagram_socket's sends, receives
// and batches: two requests, a send and a receive, over the core's message
// operations (and one per batch direction).
//
// Each call makes its system call at once, in the C++ socket's try_ form (one
// attempt that never waits): when that succeeds the call returns without
// yielding or allocating. Only on EAGAIN does it wait, through the runtime
// (runtime.hpp), on the core's async form told that its caller met EAGAIN
// (unixdgram::after_would_block): that waits first, for room at the
// destination or for a datagram, and then makes its one attempt. So a call
// that waits makes two system calls. What a waiting call keeps lives in its
// wait's payload, a socket_wait.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "socket.hpp"

#include <asio/buffer.hpp>
#include <asio/error.hpp>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

namespace unixdgram::lua::detail {

namespace {

// A send or receive, checked into plain values.
struct io_request {
    bool is_send = false;
    bool wants_sender = false; // receive_from*: the outcome reports the sender
    socket_object* object = nullptr;
    void* data = nullptr;
    std::size_t size = 0;
    int flags = 0;
    // A send_to*'s; endpoints are made only when used, since making one
    // zeroes its whole sockaddr_un.
    std::optional<endpoint> destination;
    std::size_t max_fds = 0;
    int fd_list_arg = 0; // where a send's file_descriptors are, to read again after allocating
    std::size_t fd_count = 0;
    int fds[max_fds_per_datagram];
    std::optional<credentials> sender_credentials; // a send's own (SCM_CREDENTIALS)
};

// What the kernel said, besides the error code.
struct io_outcome {
    std::size_t bytes = 0; // or, of a batch, the entries done
    bool truncated = false;
    bool control_truncated = false;
    std::optional<credentials> sender_credentials;
    std::size_t fd_count = 0;
    bool has_pidfd = false;         // owned by the storage entry after the descriptors' room
    std::optional<endpoint> sender; // made when the request wants it
};

static_assert(std::is_trivially_destructible_v<endpoint>);
static_assert(std::is_trivially_destructible_v<io_request>);
static_assert(std::is_trivially_destructible_v<io_outcome>);

// What a waiting send, receive or batch keeps: the wait's payload, kept from
// one wait of the fiber to the next, so that steady state allocates nothing.
struct socket_wait final : payload {
    io_request request;      // request.object is what cancel_socket_wait cancels
    unsigned generation = 0; // request.object's, when the wait began
    io_outcome outcome;
    std::vector<file_descriptor> received_fds; // the storage of a receive
    std::vector<file_descriptor> sent_fds;     // copies a waiting send owns
    // A waiting receive_many's or send_many's entries, and how many a
    // send_many had sent before it waited.
    std::vector<receive_entry> receive_entries;
    std::vector<send_entry> send_entries;
    std::size_t sent_before_wait = 0;
};

// The storage of calls that succeed at once, per state: a receive's
// descriptors (and the sender's pidfd after them) and the entries of
// batches, grown to the largest batch seen.
struct socket_io_storage final : payload {
    std::vector<file_descriptor> fd_scratch;
    std::vector<receive_entry> receive_batch;
    std::vector<send_entry> send_batch;
};

socket_io_storage& storage_of(binding_state& state) noexcept
{
    return static_cast<socket_io_storage&>(*state.io_storage);
}

socket_wait& socket_wait_of(wait_state& wait) noexcept
{
    return static_cast<socket_wait&>(*wait.storage);
}

// The cancel action of every socket wait. A closed socket has aborted its
// operations already.
void cancel_socket_wait(binding_state& state, wait_state& wait) noexcept
{
    auto* io = dynamic_cast<socket_wait*>(wait.storage.get());
    socket_object* object = io ? io->request.object : nullptr;
    // A socket destroyed since has aborted the operation already: its
    // cancellation handler refers to that socket and must not run.
    if (object && object->generation == io->generation && object->socket &&
        object->socket->is_open())
        cancel_by_signal(state, wait);
}

constexpr int receive_flags_allowed = MSG_PEEK;

// EAGAIN: the core reports errno values in Asio's system category, whose
// conditions Asio does not map for every value.
bool would_block(const std::error_code& ec) noexcept
{
    return ec &&
           (ec == asio::error::would_block || ec == std::errc::resource_unavailable_try_again);
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
    lua_Integer max_fds = check_integer(L, arg);
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
void take_result(receive_result& result, io_outcome& outcome, std::span<file_descriptor> storage,
                 std::size_t max_fds) noexcept
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

// A receive's one system call, the descriptors into `storage` (room for
// request.max_fds, and the sender's pidfd after them).
void attempt_receive(socket_type& socket, const io_request& request, io_outcome& outcome,
                     std::span<file_descriptor> storage, std::error_code& ec) noexcept
{
    receive_result result =
        socket.try_receive_message(asio::mutable_buffer(request.data, request.size),
                                   request.wants_sender ? &outcome.sender.emplace() : nullptr,
                                   storage.first(request.max_fds), request.flags, ec);
    take_result(result, outcome, storage, request.max_fds);
}

// A send's one system call.
void attempt_send(socket_type& socket, const io_request& request, io_outcome& outcome,
                  std::error_code& ec) noexcept
{
    outcome.bytes = socket.try_send_message(asio::const_buffer(request.data, request.size),
                                            request.destination ? &*request.destination : nullptr,
                                            control_of(request), request.flags, ec);
}

// The completion of a send's or a batch's async operation: the count.
struct take_count {
    void operator()(wait_state& wait, std::size_t count) const noexcept
    {
        socket_wait& io = socket_wait_of(wait);
        io.outcome.bytes = count;
        io.sent_fds.clear();
    }
};

// The completion of a receive's: what the kernel said, the descriptors left
// in the wait's storage.
struct take_received {
    void operator()(wait_state& wait, receive_result result) const noexcept
    {
        socket_wait& io = socket_wait_of(wait);
        take_result(result, io.outcome, io.received_fds, io.request.max_fds);
    }
};

// Starts the wait of a send or receive that found EAGAIN; the wait owns
// copies of everything it reads.
std::error_code start_io(binding_state& state, socket_type& socket, wait_state& wait,
                         const io_request& request) noexcept
{
    socket_wait* waiting = nullptr;
    std::error_code ec = guarded([&] {
        socket_wait& io = payload_of<socket_wait>(wait);
        waiting = &io;
        io.request = request;
        io.generation = request.object->generation;
        io.outcome = io_outcome();
        io_request& held = io.request;
        if (!held.is_send) {
            if (io.received_fds.size() < held.max_fds + 1)
                io.received_fds.resize(held.max_fds + 1);
            socket.async_receive_message(after_would_block,
                                         asio::mutable_buffer(held.data, held.size),
                                         held.wants_sender ? &io.outcome.sender.emplace() : nullptr,
                                         std::span(io.received_fds).first(held.max_fds), held.flags,
                                         bind_wait_handler<take_received>(state, wait));
            return;
        }
        // A waiting send holds its own copies of the descriptors, so closing
        // the caller's objects meanwhile cannot send some other file.
        io.sent_fds.clear();
        for (std::size_t at = 0; at < held.fd_count; ++at) {
            int copy = ::fcntl(held.fds[at], F_DUPFD_CLOEXEC, 0);
            if (copy < 0)
                throw std::system_error(std::error_code(errno, std::system_category()), "dup");
            io.sent_fds.emplace_back(copy);
            held.fds[at] = copy;
        }
        socket.async_send_message(after_would_block, asio::const_buffer(held.data, held.size),
                                  held.destination ? &*held.destination : nullptr, control_of(held),
                                  held.flags, bind_wait_handler<take_count>(state, wait));
    });
    if (ec && waiting)
        waiting->sent_fds.clear();
    return ec;
}

// Descriptors C++ owns on their way into Lua objects. `push` (a C function
// given `context` as a light userdata, then `nargs` values from the top of
// the stack) runs protected: should an allocation fail, the descriptors of
// `owned` it has not taken yet (set to -1 as it takes them) are closed, and
// the error goes on. With nothing owned it runs unprotected, which spares
// the plain receive a protected call.
int hand_over(lua_State* L, lua_CFunction push, void* context, std::span<int> owned, int nargs,
              int nresults)
{
    lua_pushcfunction(L, push);
    lua_pushlightuserdata(L, context);
    lua_rotate(L, -(nargs + 2), 2); // below the arguments
    if (owned.empty()) {
        lua_call(L, nargs + 1, nresults);
        return nresults;
    }
    if (lua_pcall(L, nargs + 1, nresults, 0) != LUA_OK) {
        for (int& fd : owned) {
            if (fd >= 0)
                ::close(std::exchange(fd, -1));
        }
        lua_error(L);
    }
    return nresults;
}

// Received descriptors, taken out of their C++ owners before anything is
// allocated: an allocation may run a finalizer that receives again into the
// same scratch entries. The sender's pidfd, if any, follows the descriptors.
struct fd_delivery {
    int fds[max_fds_per_datagram + 1];
    std::size_t count = 0;
    bool as_table = false; // the descriptors as a table (the _with_fds receives)
    bool with_pidfd = false;

    std::span<int> owned() noexcept { return {fds, count + (with_pidfd ? 1 : 0)}; }
    int results() const noexcept { return (as_table ? 1 : 0) + (with_pidfd ? 1 : 0); }
};

// Takes `fd` into a new file_descriptor on top of the stack.
void push_fd_object(lua_State* L, int& fd)
{
    fd_object* object = new_object<fd_object>(L, fd_type_name);
    object->fd = std::exchange(fd, -1);
}

// The push of a delivery (hand_over): the table of descriptors (if asked
// for), then the pidfd object (if any).
int push_delivered(lua_State* L)
{
    auto* delivery = static_cast<fd_delivery*>(lua_touserdata(L, 1));
    if (delivery->as_table) {
        lua_createtable(L, static_cast<int>(delivery->count), 0);
        for (std::size_t at = 0; at < delivery->count; ++at) {
            push_fd_object(L, delivery->fds[at]);
            lua_rawseti(L, -2, static_cast<lua_Integer>(at + 1));
        }
    }
    if (delivery->with_pidfd)
        push_fd_object(L, delivery->fds[delivery->count]);
    return delivery->results();
}

int push_delivery(lua_State* L, fd_delivery& delivery)
{
    if (delivery.results() == 0)
        return 0;
    return hand_over(L, push_delivered, &delivery, delivery.owned(), 0, delivery.results());
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
int push_outcome(lua_State* L, std::error_code ec, const io_request& request, io_outcome& outcome,
                 std::span<file_descriptor> storage)
{
    if (ec) {
        // A receive that fails may still have taken descriptors: the core
        // stores the datagram and what came with it before it reports a
        // sender's address no endpoint holds (ENAMETOOLONG). They are closed.
        if (!request.is_send) {
            for (std::size_t at = 0; at < outcome.fd_count; ++at)
                storage[at].reset();
            if (outcome.has_pidfd)
                storage[request.max_fds].reset();
        }
        raise_error(L, ec);
    }
    if (request.is_send) {
        lua_pushinteger(L, static_cast<lua_Integer>(outcome.bytes));
        return 1;
    }
    fd_delivery delivery;
    delivery.as_table = request.max_fds > 0;
    for (std::size_t at = 0; at < outcome.fd_count; ++at)
        delivery.fds[at] = storage[at].release();
    delivery.count = outcome.fd_count;
    delivery.with_pidfd = outcome.has_pidfd;
    if (outcome.has_pidfd)
        delivery.fds[delivery.count] = storage[request.max_fds].release();
    const std::optional<credentials> sender_credentials = outcome.sender_credentials;
    const int base = lua_gettop(L);
    lua_pushinteger(L, static_cast<lua_Integer>(outcome.bytes));
    // The descriptors become Lua objects first; the sender's path, which
    // comes before them among the results, is allocated afterwards.
    int sender_index = 0;
    if (request.wants_sender) {
        lua_pushnil(L);
        sender_index = lua_gettop(L);
    }
    push_delivery(L, delivery);
    const int pidfd_index = delivery.with_pidfd ? lua_gettop(L) : 0;
    // An unnamed sender's path is empty from receive_from and nil (left
    // in place) from receive_from_with_fds, as in Emilua.
    if (sender_index && !(delivery.as_table && is_unnamed(*outcome.sender))) {
        push_endpoint_path(L, *outcome.sender);
        lua_replace(L, sender_index);
    }
    lua_pushinteger(L, (outcome.truncated ? MSG_TRUNC : 0) |
                           (outcome.control_truncated ? MSG_CTRUNC : 0));
    if (sender_credentials)
        push_credentials(L, *sender_credentials);
    else if (delivery.with_pidfd)
        lua_pushnil(L);
    if (delivery.with_pidfd)
        lua_rotate(L, pidfd_index, -1); // last among the results
    return lua_gettop(L) - base;
}

int finish_io(lua_State* L, int, lua_KContext context)
{
    wait_state* wait = completed_wait(L, context);
    raise_if_interrupted(L, state_of(L), wait->ec);
    socket_wait& io = socket_wait_of(*wait);
    return push_outcome(L, wait->ec, io.request, io.outcome, io.received_fds);
}

// Every send and receive, once its arguments are checked.
int perform(lua_State* L, io_request& request)
{
    binding_state& state = state_of(L);
    io_outcome outcome;
    std::error_code ec;
    {
        socket_type& socket = live_socket(L, request.object);
        std::span<file_descriptor> scratch(storage_of(state).fd_scratch);
        if (request.is_send)
            attempt_send(socket, request, outcome, ec);
        else
            attempt_receive(socket, request, outcome, scratch, ec);
        if (!would_block(ec))
            return push_outcome(L, ec, request, outcome, scratch);
    }
    wait_state& wait = begin_wait(L, state, cancel_socket_wait);
    // begin_wait allocates, and a finalizer may have run any Lua there: the
    // socket may be gone (__close), and the descriptor numbers read from the
    // file_descriptors may name other files now. Both are read again, with
    // no allocation between that and start_io's duplicating them.
    socket_type& socket = live_socket(L, request.object);
    if (request.fd_list_arg)
        check_fd_list(L, request.fd_list_arg, request);
    ec = start_io(state, socket, wait, request);
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
    request.wants_sender = WithSender;
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
        request.destination = check_endpoint(L, to_index);
    }
    if (!lua_isnil(L, fds_index))
        check_fd_list(L, fds_index, request);
    if (lua_getfield(L, options_arg, "credentials") != LUA_TNIL) {
        const int credentials_index = lua_gettop(L);
        if (!lua_istable(L, credentials_index))
            raise_arg_error(L, options_arg, "field 'credentials' must be a table {pid, uid, gid}");
        request.sender_credentials =
            credentials{static_cast<pid_t>(check_credentials_field(L, credentials_index,
                                                                   options_arg, "pid", INT_MAX)),
                        static_cast<uid_t>(check_credentials_field(L, credentials_index,
                                                                   options_arg, "uid", UINT_MAX)),
                        static_cast<gid_t>(check_credentials_field(L, credentials_index,
                                                                   options_arg, "gid", UINT_MAX))};
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

// The socket_wait of a batch that waits, its entries (of the member
// `entries`) sized to `count`; their storage is kept between waits.
template <auto Entries>
std::error_code prepare_batch_wait(wait_state& wait, socket_object* object, std::size_t count,
                                   socket_wait*& io) noexcept
{
    return guarded([&] {
        io = &payload_of<socket_wait>(wait);
        io->request = io_request();
        io->request.object = object;
        io->generation = object->generation;
        io->outcome = io_outcome();
        (io->*Entries).resize(count);
    });
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

// The byte_spans in the table at `arg`, into the state's receive_batch.
std::size_t check_receive_spans(lua_State* L, int arg, binding_state& state)
{
    std::size_t count = check_batch_length(L, arg, "table of byte_span");
    std::vector<receive_entry>& batch = storage_of(state).receive_batch;
    reserve_entries(L, batch, count);
    read_entries(L, arg, 0, count, batch, receive_entry_at);
    return count;
}

// The datagrams (strings or byte_spans) in the table at `arg`, into
// the state's send_batch. The entries point into the strings and spans, which the
// table keeps alive for the call (and the stack, should it wait).
std::size_t check_send_datagrams(lua_State* L, int arg, binding_state& state)
{
    std::size_t count = check_batch_length(L, arg, "table of byte_span or string");
    std::vector<send_entry>& batch = storage_of(state).send_batch;
    reserve_entries(L, batch, count);
    read_entries(L, arg, 0, count, batch, send_entry_at);
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

// Argument 3 of receive_many: the table the lengths go into; argument 5, if a
// table, the one each datagram's sender identity goes into.
constexpr int receive_many_lengths = 3;
constexpr int receive_many_identities = 5;

// What identified the senders of a batch, taken out of the entries before
// anything is allocated (a finalizer may receive a batch into the same
// entries); the pidfds are owned here until Lua objects hold them.
struct batch_identities {
    std::size_t count = 0;
    std::optional<credentials> sender_credentials[max_batch_entries];
    int pidfds[max_batch_entries];
};

// The push of a batch's identities (hand_over), into the table given: entry
// i is the sender's {pid, uid, gid} with its pidfd as field `pidfd`, or false
// when neither came.
int push_batch_identities(lua_State* L)
{
    auto* identities = static_cast<batch_identities*>(lua_touserdata(L, 1));
    for (std::size_t at = 0; at < identities->count; ++at) {
        const std::optional<credentials>& who = identities->sender_credentials[at];
        if (!who && identities->pidfds[at] < 0) {
            lua_pushboolean(L, false);
        } else {
            if (who)
                push_credentials(L, *who);
            else
                lua_createtable(L, 0, 1);
            if (identities->pidfds[at] >= 0) {
                push_fd_object(L, identities->pidfds[at]);
                lua_setfield(L, -2, "pidfd");
            }
        }
        lua_rawseti(L, 2, static_cast<lua_Integer>(at + 1));
    }
    return 0;
}

// The length of each datagram into the table at `lengths`, and each sender's
// identity into the table at receive_many_identities when there is one;
// returns the count and the flags (truncated when any datagram was longer
// than its span, control_truncated when one carried descriptors).
int push_received_batch(lua_State* L, std::error_code ec, int lengths,
                        std::span<receive_entry> entries)
{
    if (ec)
        raise_error(L, ec);
    // Read before the first allocation: growing the lengths table may run a
    // finalizer that receives a batch into the same entries.
    lua_Integer received_lengths[max_batch_entries];
    int flags = 0;
    const bool with_identities = lua_istable(L, receive_many_identities);
    batch_identities identities;
    identities.count = entries.size();
    for (std::size_t at = 0; at < entries.size(); ++at) {
        received_lengths[at] = static_cast<lua_Integer>(entries[at].bytes);
        flags |= (entries[at].truncated ? MSG_TRUNC : 0) |
                 (entries[at].control_truncated ? MSG_CTRUNC : 0);
        identities.sender_credentials[at] = entries[at].sender_credentials;
        identities.pidfds[at] = -1;
        if (with_identities)
            identities.pidfds[at] = entries[at].sender_pidfd.release();
        else
            entries[at].sender_pidfd.reset();
    }
    if (with_identities) {
        lua_pushvalue(L, receive_many_identities);
        hand_over(L, push_batch_identities, &identities,
                  std::span<int>(identities.pidfds, identities.count), 1, 0);
    }
    for (std::size_t at = 0; at < entries.size(); ++at) {
        lua_pushinteger(L, received_lengths[at]);
        lua_rawseti(L, lengths, static_cast<lua_Integer>(at + 1));
    }
    lua_pushinteger(L, static_cast<lua_Integer>(entries.size()));
    lua_pushinteger(L, flags);
    return 2;
}

int finish_receive_many(lua_State* L, int, lua_KContext context)
{
    wait_state* wait = completed_wait(L, context);
    raise_if_interrupted(L, state_of(L), wait->ec);
    socket_wait& io = socket_wait_of(*wait);
    std::span<receive_entry> filled(io.receive_entries.data(), io.outcome.bytes);
    return push_received_batch(L, wait->ec, receive_many_lengths, filled);
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
    socket_wait& io = socket_wait_of(*wait);
    const std::size_t sent = io.sent_before_wait + io.outcome.bytes;
    std::error_code ec = interruption_or(state_of(L), wait->ec);
    if (ec)
        raise_send_many_error(L, ec, sent);
    lua_pushinteger(L, static_cast<lua_Integer>(sent));
    return 1;
}

// What receive_many and send_many do differently; perform_batch does the rest.
struct receive_batch {
    using entry = receive_entry;
    static constexpr auto wait_entries = &socket_wait::receive_entries;
    static constexpr auto scratch = &socket_io_storage::receive_batch;
    static constexpr auto read = receive_entry_at;
    static constexpr lua_KFunction finish = kboundary<finish_receive_many>;

    static std::size_t attempt(socket_type& socket, std::span<entry> entries, int flags,
                               std::error_code& ec) noexcept
    {
        return socket.try_receive_many(entries, flags, ec);
    }

    // Through the core's async receive, which waits for readability before
    // its attempt (the caller's met EAGAIN).
    static std::error_code start(binding_state& state, socket_type& socket, wait_state& wait,
                                 socket_wait& io, std::size_t, int flags) noexcept
    {
        return guarded([&] {
            socket.async_receive_many(after_would_block, io.receive_entries, flags,
                                      bind_wait_handler<take_count>(state, wait));
        });
    }

    static int push(lua_State* L, std::error_code ec, std::span<entry> entries, std::size_t done)
    {
        return push_received_batch(L, ec, receive_many_lengths, entries.first(done));
    }

    [[noreturn]] static void raise(lua_State* L, std::error_code ec, std::size_t)
    {
        raise_error(L, ec);
    }
};

struct send_batch {
    using entry = send_entry;
    static constexpr auto wait_entries = &socket_wait::send_entries;
    static constexpr auto scratch = &socket_io_storage::send_batch;
    static constexpr auto read = send_entry_at;
    static constexpr lua_KFunction finish = kboundary<finish_send_many>;

    static std::size_t attempt(socket_type& socket, std::span<entry> entries, int flags,
                               std::error_code& ec) noexcept
    {
        return socket.try_send_many(entries, flags, ec);
    }

    // The entries not sent yet, through the core's async send, which waits
    // for room before its attempt (the caller's met EAGAIN).
    static std::error_code start(binding_state& state, socket_type& socket, wait_state& wait,
                                 socket_wait& io, std::size_t sent, int flags) noexcept
    {
        io.sent_before_wait = sent;
        return guarded([&] {
            // Erasing keeps the vector's storage.
            io.send_entries.erase(io.send_entries.begin(),
                                  io.send_entries.begin() + static_cast<std::ptrdiff_t>(sent));
            socket.async_send_many(after_would_block, io.send_entries, flags,
                                   bind_wait_handler<take_count>(state, wait));
        });
    }

    static int push(lua_State* L, std::error_code ec, std::span<const entry>, std::size_t sent)
    {
        if (ec)
            raise_send_many_error(L, ec, sent);
        lua_pushinteger(L, static_cast<lua_Integer>(sent));
        return 1;
    }

    [[noreturn]] static void raise(lua_State* L, std::error_code ec, std::size_t sent)
    {
        raise_send_many_error(L, ec, sent);
    }
};

// A checked batch of `count` entries (in the state's scratch entries, from
// the table at argument 2): one attempt, and a wait only on EAGAIN.
template <typename Batch>
int perform_batch(lua_State* L, binding_state& state, socket_object* object, std::size_t count,
                  int flags)
{
    std::size_t done = 0;
    std::error_code ec;
    {
        // Nothing allocates while `entries` points into the shared batch.
        socket_type& socket = live_socket(L, object);
        std::span<typename Batch::entry> entries((storage_of(state).*Batch::scratch).data(), count);
        done = Batch::attempt(socket, entries, flags, ec);
        if (!would_block(ec))
            return Batch::push(L, ec, entries, done);
    }
    int first_entry = anchor_entries(L, 2, count); // before begin_wait, which anchors the stack
    wait_state& wait = begin_wait(L, state, cancel_socket_wait);
    // Allocating the wait and the anchors may have run a finalizer that made
    // a larger batch call (moving the shared batch), changed the table or
    // closed the socket: the entries are read again, from the anchored
    // copies, into the wait's own storage, and the socket is looked up again.
    socket_wait* io = nullptr;
    ec = prepare_batch_wait<Batch::wait_entries>(wait, object, count, io);
    if (ec)
        Batch::raise(L, ec, done);
    read_entries(L, 2, first_entry, count, io->*Batch::wait_entries, Batch::read);
    ec = Batch::start(state, live_socket(L, object), wait, *io, done, flags);
    if (ec)
        Batch::raise(L, ec, done);
    return suspend(L, state, wait, Batch::finish);
}

// sock:receive_many(spans, lengths[, flags[, identities]]) -> count, flags.
// Waits for one datagram, then takes as many more as are queued, one per span.
int socket_receive_many(lua_State* L)
{
    binding_state& state = state_of(L);
    socket_object* object = check_socket(L, 1);
    std::size_t count = check_receive_spans(L, 2, state);
    if (lua_type(L, receive_many_lengths) != LUA_TTABLE)
        raise_type_error(L, receive_many_lengths, "table (for the lengths)");
    // No MSG_PEEK: recvmmsg would fill every entry with the same datagram.
    int flags = check_flags(L, 4, 0);
    if (!lua_isnoneornil(L, receive_many_identities) && !lua_istable(L, receive_many_identities))
        raise_type_error(L, receive_many_identities, "table (for the senders' identities)");
    // Argument 5 stays where push_received_batch looks for it, whatever the
    // call passed.
    lua_settop(L, receive_many_identities);
    return perform_batch<receive_batch>(L, state, object, count, flags);
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
    return perform_batch<send_batch>(L, state, object, count, flags);
}

} // namespace

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

void push_owned_fd(lua_State* L, int fd)
{
    fd_delivery delivery;
    delivery.fds[0] = fd;
    delivery.with_pidfd = fd >= 0;
    push_delivery(L, delivery);
}

const luaL_Reg socket_io_methods[] = {
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
    {nullptr, nullptr},
};

void create_socket_io_storage(binding_state& state)
{
    auto storage = std::make_unique<socket_io_storage>();
    storage->fd_scratch.resize(max_fds_per_datagram + 1); // and the sender's pidfd
    state.io_storage = std::move(storage);
}

} // namespace unixdgram::lua::detail
