//
// unixdgram/datagram_socket.hpp — AF_UNIX datagram sockets that pass file
// descriptors and credentials.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DATAGRAM_SOCKET_HPP
#define UNIXDGRAM_DATAGRAM_SOCKET_HPP

#include <unixdgram/batch.hpp>
#include <unixdgram/credentials.hpp>
#include <unixdgram/error.hpp>
#include <unixdgram/file_descriptor.hpp>
#include <unixdgram/message.hpp>
#include <unixdgram/receive_result.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/basic_datagram_socket.hpp>
#include <asio/local/datagram_protocol.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>

#include <sys/socket.h>
#include <sys/types.h>

namespace unixdgram {

namespace detail {
template <typename Executor>
struct socket_impl;
enum class first_step : bool; // defined in detail/message_ops.hpp; {} is attempt
} // namespace detail

/// The protocol of every socket here: AF_UNIX, SOCK_DGRAM.
using protocol = asio::local::datagram_protocol;

/// A socket address: a path, an abstract name (a leading NUL, length-exact)
/// or empty (an unnamed socket; binding to it asks Linux to autobind).
/// Either may fill all 108 bytes of `sun_path`, with no terminating NUL.
using endpoint = protocol::endpoint;

/// Makes an endpoint from a path or, with a leading NUL, an abstract name, of
/// up to 108 bytes (all of `sun_path`, as Linux allows). Asio's own
/// constructor stops at 107.
/// @throws std::system_error with ENAMETOOLONG when `path` exceeds 108 bytes,
/// or is an abstract name of 108 bytes ending in NUL (which Asio's endpoint
/// cannot hold: it takes a trailing NUL for a terminator).
endpoint make_endpoint(std::string_view path);

/// @copydoc make_endpoint(std::string_view)
/// @param ec Set to ENAMETOOLONG when the throwing form would throw.
endpoint make_endpoint(std::string_view path, std::error_code& ec) noexcept;

/// An AF_UNIX datagram socket that can pass descriptors and credentials.
///
/// Every operation comes in three forms, as in Asio: one that throws
/// `std::system_error`, one that sets an `std::error_code&`, and an
/// `async_` one that takes any completion token.
///
/// Each operation first tries its system call; it waits for readiness only
/// when the kernel says EAGAIN, so a ready socket costs one system call and,
/// in steady state, no heap allocation. A caller whose own `try_` attempt
/// met EAGAIN passes `unixdgram::after_would_block` to the send or receive it
/// starts next, which then waits before it attempts: two system calls in all. The
/// descriptor joins the reactor (epoll) only before its first such wait, so
/// a socket whose calls never block does not pay for the kernel's epoll
/// callbacks.
///
/// An asynchronous operation never invokes its handler from inside the
/// initiating call. When the first attempt does not block and the handler
/// runs on a plain `io_context`, the completion is posted; started from a
/// handler of such a completion, or of an operation that waited, it runs on
/// the same thread right after that handler returns, as a continuation
/// (`asio::defer`) would, without a trip through the io_context's queue: up
/// to 64 in a row before the io_context polls its reactor. Code that runs
/// the io_context from inside a handler, waiting for an operation that
/// handler started, should first call `unixdgram::post_queued_completions()`.
///
/// An operation made with a deferred token (`asio::experimental::deferred`,
/// an awaitable awaited later) refers to the socket object, as Asio's
/// operations do: launched, it runs on what the socket holds then, and the
/// socket must still exist. `close()`, `release()` and `cancel()` end every
/// operation started before them with `operation_aborted`, those whose
/// readiness was already reported too.
/// Handlers bound to any other executor (a strand, say) are posted to it.
///
/// Closing, cancelling or releasing the socket makes its pending operations
/// complete with `asio::error::operation_aborted`; each also honours a
/// per-operation cancellation slot (any cancellation type). Moving the socket
/// (construction or assignment) hands its pending operations over with it;
/// destroying it, or assigning another over it, ends them with
/// `operation_aborted`. Buffers, `fds` spans and `sender` endpoints given to
/// an operation must outlive its completion.
///
/// The batch of sends is the exception: it honours terminal and partial
/// cancellation only (see `send_many`).
///
/// Sends never raise SIGPIPE (MSG_NOSIGNAL). Sockets are close-on-exec and so
/// are received descriptors.
///
/// @par Thread Safety
/// Distinct objects: safe. Shared objects: unsafe; use a strand to serialise
/// access from a multi-threaded `io_context`.
template <typename Executor = asio::any_io_executor>
class datagram_socket {
public:
    using executor_type = Executor;
    using protocol_type = unixdgram::protocol;
    using endpoint_type = unixdgram::endpoint;
    using native_handle_type = int;
    using message_flags = asio::socket_base::message_flags;
    using shutdown_type = asio::socket_base::shutdown_type;
    using wait_type = asio::socket_base::wait_type;

    /// Look at a datagram without removing it from the queue (MSG_PEEK).
    static constexpr message_flags message_peek = MSG_PEEK;

    /// @name Socket options
    /// @{
    using debug = asio::socket_base::debug;
    using send_buffer_size = asio::socket_base::send_buffer_size;
    using receive_buffer_size = asio::socket_base::receive_buffer_size;
    using pass_credentials = unixdgram::pass_credentials;
    using pass_pidfd = unixdgram::pass_pidfd;
    /// @}

    template <typename OtherExecutor>
    struct rebind_executor {
        using other = datagram_socket<OtherExecutor>;
    };

    /// A closed socket whose operations run on `ex`.
    explicit datagram_socket(const executor_type& ex);

    /// A closed socket whose operations run on `context`'s executor.
    template <typename ExecutionContext>
    requires std::is_convertible_v<ExecutionContext&, asio::execution_context&>
    explicit datagram_socket(ExecutionContext& context);

    /// Adopts `fd`, which must be an open AF_UNIX SOCK_DGRAM socket.
    /// @throws std::system_error when it is not (`error::not_a_unix_datagram_socket`,
    /// or EBADF for a closed number); `fd` is then left untouched and unowned.
    datagram_socket(const executor_type& ex, native_handle_type fd);

    /// @copydoc datagram_socket(const executor_type&, native_handle_type)
    template <typename ExecutionContext>
    requires std::is_convertible_v<ExecutionContext&, asio::execution_context&>
    datagram_socket(ExecutionContext& context, native_handle_type fd);

    datagram_socket(datagram_socket&& other) noexcept;
    datagram_socket& operator=(datagram_socket&& other) noexcept;
    datagram_socket(const datagram_socket&) = delete;
    datagram_socket& operator=(const datagram_socket&) = delete;

    /// Closes the socket; pending operations complete with operation_aborted.
    ~datagram_socket();

    executor_type get_executor() noexcept;

    /// @name Lifetime of the descriptor
    /// @{

    /// Creates the socket (close-on-exec, non-blocking underneath).
    /// @throws std::system_error, e.g. `asio::error::already_open`.
    void open();
    void open(std::error_code& ec);

    /// Adopts `fd` after checking it is an AF_UNIX SOCK_DGRAM socket; the socket
    /// must be closed. On error `fd` is left untouched and unowned.
    void assign(native_handle_type fd);
    void assign(native_handle_type fd, std::error_code& ec);

    bool is_open() const noexcept;

    /// Closes the socket. Pending operations complete with operation_aborted.
    void close();
    void close(std::error_code& ec);

    /// Cancels pending operations (they complete with operation_aborted) and
    /// gives up the descriptor, which the caller then owns.
    native_handle_type release();
    native_handle_type release(std::error_code& ec);

    /// The descriptor, still owned by the socket.
    native_handle_type native_handle() noexcept;

    /// Makes every pending operation complete with operation_aborted.
    void cancel();
    void cancel(std::error_code& ec);
    /// @}

    /// @name Addresses
    /// @{

    /// Binds to a path, an abstract name, or (empty endpoint) an autobound
    /// abstract name Linux picks.
    void bind(const endpoint_type& local);
    void bind(const endpoint_type& local, std::error_code& ec);

    /// Sets the default destination (and the only accepted sender).
    void connect(const endpoint_type& peer);
    void connect(const endpoint_type& peer, std::error_code& ec);

    /// Dissolves the association made by connect (connect with AF_UNSPEC).
    void disconnect();
    void disconnect(std::error_code& ec);

    /// Disables receives, sends or both.
    void shutdown(shutdown_type what);
    void shutdown(shutdown_type what, std::error_code& ec);

    /// The bound address; empty when unbound. Abstract names are exact.
    endpoint_type local_endpoint() const;
    endpoint_type local_endpoint(std::error_code& ec) const;

    /// The connected peer's address; ENOTCONN when not connected.
    endpoint_type remote_endpoint() const;
    endpoint_type remote_endpoint(std::error_code& ec) const;
    /// @}

    /// @name Options and controls
    /// @{
    template <typename SettableSocketOption>
    void set_option(const SettableSocketOption& option);
    template <typename SettableSocketOption>
    void set_option(const SettableSocketOption& option, std::error_code& ec);

    template <typename GettableSocketOption>
    void get_option(GettableSocketOption& option) const;
    template <typename GettableSocketOption>
    void get_option(GettableSocketOption& option, std::error_code& ec) const;

    /// Bytes of the next datagram, 0 when none is queued (FIONREAD).
    std::size_t bytes_readable() const;
    std::size_t bytes_readable(std::error_code& ec) const;

    /// The credentials of the other end of a pair made by `connect_pair`, as
    /// they were when the pair was made (SO_PEERCRED). Linux records none for
    /// a datagram socket joined by `connect`, which reports ENOTCONN.
    credentials peer_credentials() const;
    credentials peer_credentials(std::error_code& ec) const;

    /// A pidfd naming the other end of a pair made by `connect_pair`
    /// (SO_PEERPIDFD, Linux 6.5): close-on-exec, owned by the caller. A
    /// socket with no recorded peer reports ENOTCONN, as `peer_credentials`
    /// does; a kernel without pidfds, ENOPROTOOPT.
    file_descriptor peer_pidfd() const;
    file_descriptor peer_pidfd(std::error_code& ec) const;

    /// Whether synchronous operations fail with EAGAIN instead of blocking.
    /// Asynchronous operations are unaffected.
    bool non_blocking() const noexcept;
    void non_blocking(bool mode);
    void non_blocking(bool mode, std::error_code& ec);
    /// @}

    /// @name Messages: the general send and receive
    /// Every named send and receive below is one of these with parts left
    /// out. Each comes in four forms: throwing, `std::error_code&`, async,
    /// and `try_`, a single attempt that never waits (EAGAIN when it would
    /// have to, whatever `non_blocking()` says).
    /// @{

    /// Sends one datagram: `buffers`, to `destination` (null: the connected
    /// peer), carrying `control`'s descriptors and credentials. When the
    /// destination's queue is full this waits without spinning until it has
    /// room (unless `non_blocking()`). A datagram is sent whole or not at
    /// all; the result is its length.
    /// @throws std::system_error `error::too_many_fds` for more than
    /// `max_fds_per_datagram` descriptors (before any system call); EPERM
    /// for credentials the kernel does not let this process send.
    template <typename ConstBufferSequence>
    std::size_t send_message(const ConstBufferSequence& buffers, const endpoint_type* destination,
                             const send_control& control = {}, message_flags flags = 0);
    /// @copydoc send_message(const ConstBufferSequence&, const endpoint_type*, const send_control&,
    /// message_flags)
    template <typename ConstBufferSequence>
    std::size_t send_message(const ConstBufferSequence& buffers, const endpoint_type* destination,
                             const send_control& control, message_flags flags, std::error_code& ec);

    /// Starts `send_message` in the background. `buffers`, the descriptors
    /// `control` names and their numbers must stay valid until completion;
    /// `destination` and the credentials are copied.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t bytes_sent)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled send has sent nothing.
    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_message(const ConstBufferSequence& buffers, const endpoint_type* destination,
                            const send_control& control, message_flags flags,
                            Token&& token = asio::default_completion_token_t<executor_type>());

    /// One attempt at `send_message`, which never waits.
    template <typename ConstBufferSequence>
    std::size_t try_send_message(const ConstBufferSequence& buffers,
                                 const endpoint_type* destination, const send_control& control,
                                 message_flags flags, std::error_code& ec) noexcept;

    /// `send_message` for a caller whose own attempt (`try_send_message`)
    /// has just met EAGAIN: it waits for room first, through the same wait
    /// as `send_message` (the destination's queue, not the sending socket),
    /// and then attempts. So a send that had to wait makes two system calls
    /// in all, the caller's and this one's; when room has come meanwhile,
    /// the wait ends at once and the same two are made. Should its attempt
    /// still block (another sender took the room first, or the receiver
    /// restarted at the same path while a probe watched the old one), it
    /// waits again, one system call per wakeup, never spinning. In
    /// `non_blocking()` mode it makes its attempt without waiting, as
    /// `send_message` does. Errors and results are those of `send_message`.
    template <typename ConstBufferSequence>
    std::size_t send_message(after_would_block_t, const ConstBufferSequence& buffers,
                             const endpoint_type* destination, const send_control& control = {},
                             message_flags flags = 0);
    /// @copydoc send_message(after_would_block_t, const ConstBufferSequence&,
    /// const endpoint_type*, const send_control&, message_flags)
    template <typename ConstBufferSequence>
    std::size_t send_message(after_would_block_t, const ConstBufferSequence& buffers,
                             const endpoint_type* destination, const send_control& control,
                             message_flags flags, std::error_code& ec);

    /// Starts `send_message(after_would_block, ...)` in the background: the
    /// wait for room comes first, then the attempt, so the handler runs only
    /// after a wait (never inside this call, even on a closed socket). What
    /// must stay valid is what `async_send_message` says.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t bytes_sent)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled send has sent nothing.
    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_message(after_would_block_t, const ConstBufferSequence& buffers,
                            const endpoint_type* destination, const send_control& control,
                            message_flags flags,
                            Token&& token = asio::default_completion_token_t<executor_type>());

    /// Receives one datagram and all that came with it: its bytes into
    /// `buffers`, the sender's address into `*sender` (unless null), the
    /// descriptors it carries into the leading entries of `fds` (earlier
    /// contents closed; any beyond `fds.size()` closed, and
    /// `control_truncated` set), and the sender's credentials and pidfd when
    /// `pass_credentials` and `pass_pidfd` are on. Truncation is reported in
    /// the result, never as an error. A sender address no endpoint holds
    /// gives ENAMETOOLONG, as `receive_from` says, after the rest is stored.
    template <typename MutableBufferSequence>
    receive_result receive_message(const MutableBufferSequence& buffers, endpoint_type* sender,
                                   std::span<file_descriptor> fds = {}, message_flags flags = 0);
    /// @copydoc receive_message(const MutableBufferSequence&, endpoint_type*,
    /// std::span<file_descriptor>, message_flags)
    template <typename MutableBufferSequence>
    receive_result receive_message(const MutableBufferSequence& buffers, endpoint_type* sender,
                                   std::span<file_descriptor> fds, message_flags flags,
                                   std::error_code& ec);

    /// Starts `receive_message` in the background. `buffers`, `*sender`
    /// and `fds` must stay valid until completion.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, receive_result result)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled receive has taken nothing.
    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, receive_result)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive_message(const MutableBufferSequence& buffers, endpoint_type* sender,
                               std::span<file_descriptor> fds, message_flags flags,
                               Token&& token = asio::default_completion_token_t<executor_type>());

    /// One attempt at `receive_message`, which never waits.
    template <typename MutableBufferSequence>
    receive_result try_receive_message(const MutableBufferSequence& buffers, endpoint_type* sender,
                                       std::span<file_descriptor> fds, message_flags flags,
                                       std::error_code& ec) noexcept;

    /// `receive_message` for a caller whose own attempt
    /// (`try_receive_message`) has just met EAGAIN: it waits for the socket
    /// to be readable first, and then attempts. So a receive that had to
    /// wait makes two system calls in all, the caller's and this one's.
    /// Should another reader take the datagram first, it waits again. In
    /// `non_blocking()` mode it makes its attempt without waiting, as
    /// `receive_message` does. Errors and results are those of
    /// `receive_message`.
    template <typename MutableBufferSequence>
    receive_result receive_message(after_would_block_t, const MutableBufferSequence& buffers,
                                   endpoint_type* sender, std::span<file_descriptor> fds = {},
                                   message_flags flags = 0);
    /// @copydoc receive_message(after_would_block_t, const MutableBufferSequence&,
    /// endpoint_type*, std::span<file_descriptor>, message_flags)
    template <typename MutableBufferSequence>
    receive_result receive_message(after_would_block_t, const MutableBufferSequence& buffers,
                                   endpoint_type* sender, std::span<file_descriptor> fds,
                                   message_flags flags, std::error_code& ec);

    /// Starts `receive_message(after_would_block, ...)` in the background:
    /// the wait for readability comes first, then the attempt, so the
    /// handler runs only after a wait (never inside this call, even on a
    /// closed socket). What must stay valid is what `async_receive_message`
    /// says.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, receive_result result)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled receive has taken nothing.
    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, receive_result)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive_message(after_would_block_t, const MutableBufferSequence& buffers,
                               endpoint_type* sender, std::span<file_descriptor> fds,
                               message_flags flags,
                               Token&& token = asio::default_completion_token_t<executor_type>());
    /// @}

    /// @name Sending
    /// Sends return the bytes sent; a datagram is sent whole or not at all.
    /// @{

    /// Sends a datagram to the connected peer.
    template <typename ConstBufferSequence>
    std::size_t send(const ConstBufferSequence& buffers, message_flags flags = 0);
    template <typename ConstBufferSequence>
    std::size_t send(const ConstBufferSequence& buffers, message_flags flags, std::error_code& ec);

    /// Starts `send` in the background. `buffers` must stay valid until completion.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t bytes_sent)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled send has sent nothing.
    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send(const ConstBufferSequence& buffers, message_flags flags,
                    Token&& token = asio::default_completion_token_t<executor_type>());

    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send(const ConstBufferSequence& buffers,
                    Token&& token = asio::default_completion_token_t<executor_type>());

    /// Sends a datagram to `destination`. When that peer's queue is full this
    /// waits (blocking or asynchronously) without spinning until it has room.
    template <typename ConstBufferSequence>
    std::size_t send_to(const ConstBufferSequence& buffers, const endpoint_type& destination,
                        message_flags flags = 0);
    template <typename ConstBufferSequence>
    std::size_t send_to(const ConstBufferSequence& buffers, const endpoint_type& destination,
                        message_flags flags, std::error_code& ec);

    /// Starts `send_to` in the background. `buffers` must stay valid until completion;
    /// `destination` is copied.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t bytes_sent)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled send has sent nothing.
    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_to(const ConstBufferSequence& buffers, const endpoint_type& destination,
                       message_flags flags,
                       Token&& token = asio::default_completion_token_t<executor_type>());

    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_to(const ConstBufferSequence& buffers, const endpoint_type& destination,
                       Token&& token = asio::default_completion_token_t<executor_type>());

    /// Sends a datagram carrying copies of `fds` (at most `max_fds_per_datagram`,
    /// else `error::too_many_fds` before any system call). The caller keeps
    /// `fds`. A datagram of zero bytes may carry descriptors.
    template <typename ConstBufferSequence>
    std::size_t send_with_fds(const ConstBufferSequence& buffers, std::span<const int> fds,
                              message_flags flags = 0);
    template <typename ConstBufferSequence>
    std::size_t send_with_fds(const ConstBufferSequence& buffers, std::span<const int> fds,
                              message_flags flags, std::error_code& ec);

    /// Starts `send_with_fds` in the background. `buffers` and the descriptors in `fds` (the span
    /// and the numbers) must stay valid until completion.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t bytes_sent)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled send has sent nothing.
    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_with_fds(const ConstBufferSequence& buffers, std::span<const int> fds,
                             message_flags flags,
                             Token&& token = asio::default_completion_token_t<executor_type>());

    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_with_fds(const ConstBufferSequence& buffers, std::span<const int> fds,
                             Token&& token = asio::default_completion_token_t<executor_type>());

    /// `send_with_fds` to `destination`, waiting as `send_to` does.
    template <typename ConstBufferSequence>
    std::size_t send_to_with_fds(const ConstBufferSequence& buffers,
                                 const endpoint_type& destination, std::span<const int> fds,
                                 message_flags flags = 0);
    template <typename ConstBufferSequence>
    std::size_t send_to_with_fds(const ConstBufferSequence& buffers,
                                 const endpoint_type& destination, std::span<const int> fds,
                                 message_flags flags, std::error_code& ec);

    /// Starts `send_to_with_fds` in the background. `buffers` and the descriptors in `fds`
    /// must stay valid until completion; `destination` is copied.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t bytes_sent)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled send has sent nothing.
    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_to_with_fds(const ConstBufferSequence& buffers,
                                const endpoint_type& destination, std::span<const int> fds,
                                message_flags flags,
                                Token&& token = asio::default_completion_token_t<executor_type>());

    template <typename ConstBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_to_with_fds(const ConstBufferSequence& buffers,
                                const endpoint_type& destination, std::span<const int> fds,
                                Token&& token = asio::default_completion_token_t<executor_type>());
    /// @}

    /// @name Receiving
    /// @{

    /// Receives one datagram and returns its length. A datagram longer than
    /// `buffers` fails with `error::message_truncated` after filling them
    /// (the byte count is then `asio::buffer_size(buffers)`). Descriptors
    /// that came with it are closed by the kernel.
    template <typename MutableBufferSequence>
    std::size_t receive(const MutableBufferSequence& buffers, message_flags flags = 0);
    template <typename MutableBufferSequence>
    std::size_t receive(const MutableBufferSequence& buffers, message_flags flags,
                        std::error_code& ec);

    /// Starts `receive` in the background. `buffers` must stay valid until completion. A
    /// truncated datagram completes with `error::message_truncated`.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t bytes_received)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled receive has taken nothing.
    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive(const MutableBufferSequence& buffers, message_flags flags,
                       Token&& token = asio::default_completion_token_t<executor_type>());

    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive(const MutableBufferSequence& buffers,
                       Token&& token = asio::default_completion_token_t<executor_type>());

    /// `receive`, also storing the sender's address (empty when unnamed).
    /// Every address Linux reports is stored exactly, 108-byte ones
    /// included, but one: an abstract name of all 108 bytes ending in NUL,
    /// which no endpoint holds. That datagram is received (its bytes, and
    /// in the `_with_fds` forms its descriptors, are the caller's) and
    /// reported with ENAMETOOLONG, `sender` left empty. The same holds for
    /// every receive that stores a sender, and for `local_endpoint` and
    /// `remote_endpoint`.
    template <typename MutableBufferSequence>
    std::size_t receive_from(const MutableBufferSequence& buffers, endpoint_type& sender,
                             message_flags flags = 0);
    template <typename MutableBufferSequence>
    std::size_t receive_from(const MutableBufferSequence& buffers, endpoint_type& sender,
                             message_flags flags, std::error_code& ec);

    /// Starts `receive_from` in the background. `buffers` and `sender` must stay valid
    /// until completion.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t bytes_received)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled receive has taken nothing.
    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive_from(const MutableBufferSequence& buffers, endpoint_type& sender,
                            message_flags flags,
                            Token&& token = asio::default_completion_token_t<executor_type>());

    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive_from(const MutableBufferSequence& buffers, endpoint_type& sender,
                            Token&& token = asio::default_completion_token_t<executor_type>());

    /// Receives one datagram and the descriptors it carries into the leading
    /// entries of `fds` (earlier contents are closed). Descriptors beyond
    /// `fds.size()` are closed and `control_truncated` set. Never fails for
    /// truncation: the result reports it.
    template <typename MutableBufferSequence>
    receive_result receive_with_fds(const MutableBufferSequence& buffers,
                                    std::span<file_descriptor> fds, message_flags flags = 0);
    template <typename MutableBufferSequence>
    receive_result receive_with_fds(const MutableBufferSequence& buffers,
                                    std::span<file_descriptor> fds, message_flags flags,
                                    std::error_code& ec);

    /// Starts `receive_with_fds` in the background. `buffers` and `fds` must stay valid
    /// until completion.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, receive_result result)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled receive has taken nothing.
    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, receive_result)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive_with_fds(const MutableBufferSequence& buffers,
                                std::span<file_descriptor> fds, message_flags flags,
                                Token&& token = asio::default_completion_token_t<executor_type>());

    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, receive_result)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive_with_fds(const MutableBufferSequence& buffers,
                                std::span<file_descriptor> fds,
                                Token&& token = asio::default_completion_token_t<executor_type>());

    /// `receive_with_fds`, also storing the sender's address. The arguments
    /// come in the order `send_to_with_fds` takes them.
    template <typename MutableBufferSequence>
    receive_result receive_from_with_fds(const MutableBufferSequence& buffers,
                                         endpoint_type& sender, std::span<file_descriptor> fds,
                                         message_flags flags = 0);
    template <typename MutableBufferSequence>
    receive_result receive_from_with_fds(const MutableBufferSequence& buffers,
                                         endpoint_type& sender, std::span<file_descriptor> fds,
                                         message_flags flags, std::error_code& ec);

    /// Starts `receive_from_with_fds` in the background. `buffers`, `sender` and `fds`
    /// must stay valid until completion.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, receive_result result)`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled receive has taken nothing.
    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, receive_result)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto
    async_receive_from_with_fds(const MutableBufferSequence& buffers, endpoint_type& sender,
                                std::span<file_descriptor> fds, message_flags flags,
                                Token&& token = asio::default_completion_token_t<executor_type>());

    template <typename MutableBufferSequence,
              asio::completion_token_for<void(std::error_code, receive_result)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto
    async_receive_from_with_fds(const MutableBufferSequence& buffers, endpoint_type& sender,
                                std::span<file_descriptor> fds,
                                Token&& token = asio::default_completion_token_t<executor_type>());
    /// @}

    /// @name Batches
    /// Many datagrams per system call (sendmmsg, recvmmsg), each entry with
    /// its own buffer, address and result. Up to 64 entries go in one call;
    /// a longer span takes more calls, in order. Nothing is allocated.
    /// @{

    /// Sends every entry in order, each as one datagram, to its `destination`
    /// or the connected peer. Waits for room as `send` and `send_to` do.
    /// @returns The number of entries sent, which have `bytes_sent` set:
    /// all of them unless an error stopped the batch.
    /// @throws std::system_error when an entry could not be sent; the entries
    /// before it were. Use the `std::error_code` form to learn how many.
    std::size_t send_many(std::span<send_entry> entries, message_flags flags = 0);

    /// @copydoc send_many(std::span<send_entry>, message_flags)
    /// @param ec Set to why entry [result] was not sent; cleared when every
    /// entry was. In non-blocking mode, would-block once the queue is full.
    std::size_t send_many(std::span<send_entry> entries, message_flags flags, std::error_code& ec);

    /// Waits until at least one datagram is queued, then receives it and as
    /// many more as are already queued, up to `entries.size()`, without
    /// waiting again. Returns at once, with 0, when `entries` is empty.
    /// Descriptors that came with a datagram are closed by the kernel.
    /// @returns The number of entries filled, which have `bytes`, `truncated`
    /// and `sender` (where asked) set. Truncation is not an error.
    /// @throws std::system_error on failure; nothing was received.
    std::size_t receive_many(std::span<receive_entry> entries, message_flags flags = 0);

    /// @copydoc receive_many(std::span<receive_entry>, message_flags)
    /// @param ec Set on failure, else cleared. An error met after some
    /// datagrams were received is left for the next call to report.
    std::size_t receive_many(std::span<receive_entry> entries, message_flags flags,
                             std::error_code& ec);

    /// One attempt at `send_many`, which never waits: EAGAIN once the queue
    /// is full, whatever `non_blocking()` says; the result counts the
    /// entries sent before that.
    std::size_t try_send_many(std::span<send_entry> entries, message_flags flags,
                              std::error_code& ec) noexcept;

    /// `send_many` of the entries a `try_send_many` that met EAGAIN left
    /// unsent: it waits for room for the first of them before its first
    /// attempt, as `send_message(after_would_block, ...)` does. The result
    /// counts the entries of `entries` this call sent.
    std::size_t send_many(after_would_block_t, std::span<send_entry> entries,
                          message_flags flags = 0);
    /// @copydoc send_many(after_would_block_t, std::span<send_entry>, message_flags)
    std::size_t send_many(after_would_block_t, std::span<send_entry> entries, message_flags flags,
                          std::error_code& ec);

    /// One attempt at `receive_many`, which never waits: EAGAIN when nothing
    /// is queued, whatever `non_blocking()` says.
    std::size_t try_receive_many(std::span<receive_entry> entries, message_flags flags,
                                 std::error_code& ec) noexcept;

    /// `receive_many` for a caller whose `try_receive_many` has just met
    /// EAGAIN: it waits for the socket to be readable before its first
    /// attempt, as `receive_message(after_would_block, ...)` does.
    std::size_t receive_many(after_would_block_t, std::span<receive_entry> entries,
                             message_flags flags = 0);
    /// @copydoc receive_many(after_would_block_t, std::span<receive_entry>, message_flags)
    std::size_t receive_many(after_would_block_t, std::span<receive_entry> entries,
                             message_flags flags, std::error_code& ec);

    /// Asynchronously sends every entry, as `send_many` does.
    ///
    /// The entries, their buffers and destinations must stay valid until
    /// completion.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t count)`: `count` entries were
    /// sent; `ec` says why entry [count] was not, when it was not.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal and partial: entries already sent stay sent, and `count` says
    /// how many. Total cancellation is not supported.
    template <asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_many(std::span<send_entry> entries, message_flags flags,
                         Token&& token = asio::default_completion_token_t<executor_type>());

    template <asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_many(std::span<send_entry> entries,
                         Token&& token = asio::default_completion_token_t<executor_type>());

    /// Starts `send_many(after_would_block, ...)` in the background: the
    /// wait for room comes before the first attempt.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t count)`, as `async_send_many`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal and partial, as `async_send_many`.
    template <asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_send_many(after_would_block_t, std::span<send_entry> entries, message_flags flags,
                         Token&& token = asio::default_completion_token_t<executor_type>());

    /// Asynchronously receives at least one datagram and as many more as
    /// are then queued, as `receive_many` does.
    ///
    /// The entries, their buffers and senders must stay valid until
    /// completion.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t count)`: the leading `count`
    /// entries were filled.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total: a cancelled receive has taken nothing.
    template <asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive_many(std::span<receive_entry> entries, message_flags flags,
                            Token&& token = asio::default_completion_token_t<executor_type>());

    template <asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive_many(std::span<receive_entry> entries,
                            Token&& token = asio::default_completion_token_t<executor_type>());

    /// Starts `receive_many(after_would_block, ...)` in the background: the
    /// wait for readability comes before the first attempt.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec, std::size_t count)`, as `async_receive_many`.
    ///
    /// @par Per-Operation Cancellation
    /// Terminal, partial and total, as `async_receive_many`.
    template <asio::completion_token_for<void(std::error_code, std::size_t)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_receive_many(after_would_block_t, std::span<receive_entry> entries,
                            message_flags flags,
                            Token&& token = asio::default_completion_token_t<executor_type>());
    /// @}

    /// @name Waiting
    /// @{

    /// Waits until the socket is readable, writable or has an error pending.
    ///
    /// @par Completion Signature
    /// `void(std::error_code ec)`.
    ///
    /// @par Per-Operation Cancellation
    /// As Asio's `basic_socket::async_wait`: terminal, partial and total.
    template <asio::completion_token_for<void(std::error_code)> Token =
                  asio::default_completion_token_t<executor_type>>
    auto async_wait(wait_type what,
                    Token&& token = asio::default_completion_token_t<executor_type>());
    /// @}

private:
    template <typename Signature, typename Operation, typename Token>
    auto start(Operation&& operation, Token&& token, detail::first_step first = {});

    template <typename Operation>
    void run_blocking(Operation& operation, std::error_code& ec, detail::first_step first = {});

    // The general send, starting with its attempt or its wait.
    template <typename ConstBufferSequence>
    std::size_t send_message_from(detail::first_step first, const ConstBufferSequence& buffers,
                                  const endpoint_type* destination, const send_control& control,
                                  message_flags flags, std::error_code& ec);
    template <typename ConstBufferSequence, typename Token>
    auto async_send_message_from(detail::first_step first, const ConstBufferSequence& buffers,
                                 const endpoint_type* destination, const send_control& control,
                                 message_flags flags, Token&& token);
    int descriptor() const noexcept;
    bool make_impl(std::error_code& ec);

    executor_type executor_;
    // Null until the socket is first opened, and after a move took it.
    std::shared_ptr<detail::socket_impl<Executor>> impl_;
};

/// Connects two closed sockets to each other (socketpair(2)).
/// @throws std::system_error on failure; both stay closed.
template <typename Executor>
void connect_pair(datagram_socket<Executor>& first, datagram_socket<Executor>& second);

/// @copydoc connect_pair
template <typename Executor>
void connect_pair(datagram_socket<Executor>& first, datagram_socket<Executor>& second,
                  std::error_code& ec);

/// Hands the completions waiting to run on this thread after the current
/// handler (see `datagram_socket`) to their io_context's queue, and sends
/// there too those of the operations the handler starts afterwards. Call it
/// before running the io_context from inside a handler to wait for an
/// operation that handler started, or one that a handler run by that loop
/// starts; elsewhere it does nothing.
void post_queued_completions() noexcept;

} // namespace unixdgram

#include <unixdgram/impl/datagram_socket.hpp>

#endif // UNIXDGRAM_DATAGRAM_SOCKET_HPP
