//
// unixdgram/detail/destination_wait.hpp — waiting, blocking or
// asynchronously, until a send may no longer block: the one wait-for-room
// mechanism of every send.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_DESTINATION_WAIT_HPP
#define UNIXDGRAM_DETAIL_DESTINATION_WAIT_HPP

#include <unixdgram/detail/socket_ops.hpp>

#include <asio/basic_datagram_socket.hpp>
#include <asio/basic_waitable_timer.hpp>
#include <asio/local/datagram_protocol.hpp>
#include <asio/socket_base.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace unixdgram::detail {

// Linux reports an unconnected datagram socket writable even when the
// destination's queue is full, so waiting on the sending socket itself would
// spin. A socket *connected* to the destination polls writable exactly when
// that queue has room: each destination waited for gets such a probe,
// connected and never sending, shared by all its waiters, blocking and
// asynchronous alike. When no probe can be had (socket() or connect()
// refused, or `max_probes` other destinations waited for at once) the wait
// falls back to a back-off delay, doubled up to 64 ms while sends still block.
//
// A probe goes stale when its receiver restarts at the same path (close,
// unlink, a new socket bound there): it stays connected to the dead socket,
// which polls writable for ever. So a waiter that a probe woke, and whose send
// still would block, says so in wait_ended, and the probe connects again, to
// whatever is bound at the path now, before it is waited on again. A probe
// that merely lost a race with another sender reconnects to the same socket,
// which costs one connect(2).
//
// The asynchronous fallback is one timer. It is armed only when no wait is
// pending on it: all the waits of one arming fire together, so the first
// waiter to end with that arming's generation knows the timer is free, and
// the next wait arms it anew, never waiting on an expired timer.
template <typename Executor>
class destination_wait {
public:
    using socket_type = asio::basic_datagram_socket<asio::local::datagram_protocol, Executor>;
    using timer_type =
        asio::basic_waitable_timer<std::chrono::steady_clock,
                                   asio::wait_traits<std::chrono::steady_clock>, Executor>;

    // Destinations with a probe each at most; beyond them, the timer.
    static constexpr std::size_t max_probes = 32;

    // What one waiter holds from the start of its wait to its end.
    class ticket {
    public:
        bool waiting() const noexcept { return on_ != source::none; }

    private:
        friend class destination_wait;
        enum class source : unsigned char { none, probe, timer };

        source on_ = source::none;
        std::size_t probe_ = 0;
        // The probe's connection or the timer's arming the wait began on.
        std::uint64_t generation_ = 0;
        std::uint64_t epoch_ = 0;
    };

    explicit destination_wait(const Executor& executor) : executor_(executor), timer_(executor) {}

    // Blocks until a send from `sender` to `destination` (null: the connected
    // peer) may no longer block, or the fallback delay has passed; past
    // `deadline`, fails with `asio::error::timed_out`. Call wait_ended with
    // `waiter` after the next attempt.
    void wait_for_room(int sender, const endpoint* destination, ticket& waiter,
                       deadline_clock::time_point deadline, std::error_code& ec) noexcept
    {
        waiter = ticket();
        ec.clear();
        int watched = sender;
        deadline_clock::time_point until = deadline;
        if (destination && own_buffer_has_room(sender, ec)) {
            if (probe* found = aim_at(*destination, waiter)) {
                ++found->waiters;
                watched = found->socket.native_handle();
            } else {
                waiter.on_ = ticket::source::timer;
                waiter.epoch_ = epoch_;
                watched = -1;
                until = std::min(deadline, deadline_clock::now() + next_delay());
            }
        }
        if (ec)
            return;
        poll_until(watched, POLLOUT, until, ec);
        if (ec == asio::error::timed_out && until != deadline)
            ec.clear(); // the back-off delay passed, not the deadline
        if (ec)
            wait_abandoned(waiter);
    }

    // The asynchronous form: `handler(std::error_code)` runs when a send may
    // no longer block. `waiter` is written before `handler` is moved from,
    // so it may live inside the handler (as reactive_op's does).
    template <typename Handler>
    void async_wait_for_room(socket_type& sender, const endpoint* destination, ticket& waiter,
                             Handler&& handler)
    {
        waiter = ticket();
        if (!destination || !own_buffer_has_room(sender.native_handle())) {
            // A connected socket polls writable only when its peer's queue
            // has room, and any socket when its own buffer has, so waiting on
            // the sender cannot spin.
            return sender.async_wait(asio::socket_base::wait_write, std::forward<Handler>(handler));
        }
        if (probe* found = aim_at(*destination, waiter)) {
            found->socket.async_wait(asio::socket_base::wait_write, std::forward<Handler>(handler));
            ++found->waiters;
            return;
        }
        if (!timer_armed_) {
            timer_.expires_after(next_delay());
            ++timer_generation_;
            timer_armed_ = true;
        }
        waiter.on_ = ticket::source::timer;
        waiter.generation_ = timer_generation_;
        waiter.epoch_ = epoch_;
        timer_.async_wait(std::forward<Handler>(handler));
        ++timer_waiters_;
    }

    // The wait of `waiter` ended without error and the send was tried again;
    // `still_blocked` says it would still block. Does nothing for a waiter
    // that was not waiting here.
    void wait_ended(ticket& waiter, bool still_blocked) noexcept
    {
        const ticket ended = leave(waiter);
        if (ended.on_ == ticket::source::probe) {
            probe& woken_by = *probes_[ended.probe_];
            if (still_blocked && ended.generation_ == woken_by.generation)
                reconnect(woken_by);
        } else if (ended.on_ == ticket::source::timer) {
            if (ended.generation_ != 0 && ended.generation_ == timer_generation_) {
                // The timer fired, for every wait of this arming at once.
                timer_armed_ = false;
                timer_waiters_ = 0;
            }
            if (!still_blocked)
                backoff_delay_ = first_delay;
        }
    }

    // The wait of `waiter` was cancelled by itself (per-operation
    // cancellation, or a failed poll); the others go on.
    void wait_abandoned(ticket& waiter) noexcept
    {
        const ticket ended = leave(waiter);
        if (ended.on_ == ticket::source::timer && ended.generation_ != 0 &&
            ended.generation_ == timer_generation_ && timer_waiters_ > 0 && --timer_waiters_ == 0)
            timer_armed_ = false; // no one waits on it: re-arming cancels nothing
    }

    // Every pending asynchronous wait completes with operation_aborted; the
    // tickets they hold are void from now on.
    void cancel() noexcept
    {
        ++epoch_;
        std::error_code ignored;
        for (auto& each : probes_) {
            each->socket.cancel(ignored);
            each->waiters = 0;
        }
        timer_.cancel();
        timer_armed_ = false;
        timer_waiters_ = 0;
    }

    // How many times cancel() has run (close() runs it too): the socket's
    // close(), release() and cancel() end every operation started before,
    // those whose wait has ended and whose handler is queued too, which must
    // not try again on what the socket holds now.
    std::uint64_t epoch() const noexcept { return epoch_; }

    // cancel(), and the probes are closed.
    void close() noexcept
    {
        cancel();
        probes_.clear();
        backoff_delay_ = first_delay;
    }

private:
    static constexpr std::chrono::milliseconds first_delay{1};
    static constexpr std::chrono::milliseconds longest_delay{64};

    struct probe {
        explicit probe(const Executor& executor) : socket(executor) {}

        socket_type socket;
        endpoint destination;
        bool connected = false;
        std::size_t waiters = 0;
        // Counts connections, so that only the first waiter woken through a
        // stale one reconnects.
        std::uint64_t generation = 0;
    };

    // Ends the wait of `waiter` and returns it, its probe's count of waiters
    // down by one; a waiter that was not waiting, or whose wait cancel()
    // ended, comes back as not waiting.
    ticket leave(ticket& waiter) noexcept
    {
        const ticket ended = std::exchange(waiter, ticket());
        if (ended.on_ == ticket::source::none || ended.epoch_ != epoch_)
            return ticket();
        if (ended.on_ == ticket::source::probe && probes_[ended.probe_]->waiters > 0)
            --probes_[ended.probe_]->waiters;
        return ended;
    }

    // Asio's endpoint comparison makes a std::string of each path, which
    // allocates for a path longer than the string's own buffer: once per
    // wait, in steady state. The address bytes compare the same.
    static bool same_address(const endpoint& first, const endpoint& second) noexcept
    {
        return first.size() == second.size() &&
               std::memcmp(first.data(), second.data(), first.size()) == 0;
    }

    static bool own_buffer_has_room(int sender, std::error_code& ec) noexcept
    {
        return ready_now(sender, POLLOUT, ec);
    }

    static bool own_buffer_has_room(int sender) noexcept
    {
        std::error_code ec;
        return own_buffer_has_room(sender, ec) && !ec;
    }

    std::chrono::milliseconds next_delay() noexcept
    {
        return std::exchange(backoff_delay_, std::min(backoff_delay_ * 2, longest_delay));
    }

    // The probe connected to `destination`, made or re-aimed if need be
    // (an idle one first), with `waiter` pointing at it; null when none can
    // be had.
    probe* aim_at(const endpoint& destination, ticket& waiter) noexcept
    {
        probe* chosen = nullptr;
        std::size_t index = 0;
        for (; index < probes_.size(); ++index) {
            if (probes_[index]->connected &&
                same_address(probes_[index]->destination, destination)) {
                chosen = probes_[index].get();
                break;
            }
        }
        if (!chosen) {
            for (index = 0; index < probes_.size(); ++index) {
                if (probes_[index]->waiters == 0) {
                    chosen = probes_[index].get();
                    break;
                }
            }
            if (!chosen && probes_.size() < max_probes) {
                try {
                    probes_.push_back(std::make_unique<probe>(executor_));
                } catch (...) {
                    return nullptr; // out of memory: the timer will do
                }
                index = probes_.size() - 1;
                chosen = probes_.back().get();
            }
            if (!chosen)
                return nullptr;
            chosen->destination = destination;
            if (!reconnect(*chosen))
                return nullptr;
        }
        waiter.on_ = ticket::source::probe;
        waiter.probe_ = index;
        waiter.generation_ = chosen->generation;
        waiter.epoch_ = epoch_;
        return chosen;
    }

    // Connects `target` to its destination again: whatever is bound at that
    // address now. False, and the probe out of use, when that fails.
    bool reconnect(probe& target) noexcept
    {
        ++target.generation;
        target.connected = false;
        std::error_code ec;
        if (!target.socket.is_open()) {
            int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0)
                return false;
            target.socket.assign(asio::local::datagram_protocol(), fd, ec);
            if (ec) {
                ::close(fd);
                return false;
            }
        }
        const endpoint& destination = target.destination;
        if (retry_on_eintr([&] {
                return ::connect(target.socket.native_handle(), destination.data(),
                                 static_cast<socklen_t>(destination.size()));
            }) != 0)
            return false;
        target.connected = true;
        return true;
    }

    Executor executor_;
    std::vector<std::unique_ptr<probe>> probes_;
    timer_type timer_;
    bool timer_armed_ = false;
    std::size_t timer_waiters_ = 0;
    // 0 is no arming: blocking waits on the delay carry it.
    std::uint64_t timer_generation_ = 0;
    // Advanced by cancel(): tickets of waits it ended are ignored.
    std::uint64_t epoch_ = 0;
    std::chrono::milliseconds backoff_delay_ = first_delay;
};

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_DESTINATION_WAIT_HPP
