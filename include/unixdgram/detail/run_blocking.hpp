//
// unixdgram/detail/run_blocking.hpp — the one blocking loop: attempt, and
// wait for readiness only on EAGAIN, until the attempt does not block or a
// deadline passes.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_RUN_BLOCKING_HPP
#define UNIXDGRAM_DETAIL_RUN_BLOCKING_HPP

#include <unixdgram/detail/destination_wait.hpp>
#include <unixdgram/detail/message_ops.hpp>
#include <unixdgram/detail/socket_ops.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/error.hpp>

#include <system_error>

#include <poll.h>

namespace unixdgram::detail {

struct blocking_mode {
    first_step first = first_step::attempt;
    // False for a socket in non_blocking() mode: one attempt, no wait (an
    // operation told to wait first makes its attempt at once).
    bool may_wait = true;
    // Once it has passed, a wait fails with asio::error::timed_out.
    deadline_clock::time_point deadline = no_deadline;
};

// For a descriptor that has no destination_wait of its own (systemd's
// notification socket): its receives, and sends to its connected peer, which
// wait on the descriptor itself as destination_wait does for them.
inline constexpr destination_wait<asio::any_io_executor>* no_destination_wait = nullptr;

// The synchronous form of what reactive_op does; every blocking send and
// receive, batches included, runs here. A send waits for room through
// `destination_wait` (see destination_wait.hpp), which learns after each
// attempt whether the send still blocks (null: `fd` sends to its connected
// peer only, and waits on itself); a receive waits for `fd` to be
// readable. EBADF at once for a closed socket (a negative `fd`): polling it
// would wait for ever.
template <message_operation Operation, typename Executor>
void run_blocking(int fd, Operation& operation, destination_wait<Executor>* room_waits,
                  const blocking_mode& mode, std::error_code& ec) noexcept
{
    if (fd < 0) {
        ec = asio::error::bad_descriptor;
        return;
    }
    typename destination_wait<Executor>::ticket waiter;
    bool wait_now = mode.first == first_step::wait && mode.may_wait;
    for (;;) {
        if (wait_now) {
            if constexpr (Operation::is_receive)
                poll_until(fd, POLLIN, mode.deadline, ec);
            else if (room_waits)
                room_waits->wait_for_room(fd, operation.destination_address(), waiter,
                                          mode.deadline, ec);
            else
                poll_until(fd, POLLOUT, mode.deadline, ec);
            if (ec)
                return;
        }
        operation.attempt(fd, ec);
        const bool would_block = is_would_block(ec);
        if constexpr (!Operation::is_receive) {
            if (room_waits)
                room_waits->wait_ended(waiter, would_block);
        }
        if (!would_block || !mode.may_wait)
            return;
        wait_now = true;
    }
}

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_RUN_BLOCKING_HPP
