//
// bench_cpp.cpp — what a datagram costs through unixdgram, Asio's own socket
// and the batch API, against our own loop of raw system calls measured in
// the same run.
//
// Every workload is measured in rounds: each round times every contender
// once, in turn, so that a slow spell of the machine hits them alike; the
// figure kept is the median over the rounds.
//
// Output, one record per line, tab-separated (scripts/bench makes the table):
//
//   workload <id> <title>
//   row <workload id> <contender key> <label> <median ns> <median p99 ns or -> <target or ->
//   allocations <workload id> <contender key> <heap allocations per datagram>
//
// The contender whose key is "raw" is its workload's baseline. Ping-pong
// rows give the p50 of a round trip as their ns and its p99 beside it.
//
// Usage: bench_cpp [--rounds N] [--datagrams N] [--round-trips N]
//                  [--workloads id,...] [--contenders key,...] [--allocations]
//
// --contenders keeps only the contenders with those keys (for profiling).
//
// --allocations counts, instead of timing, the heap allocations a datagram
// costs once a contender is warm: this program links test/counting_allocator.cpp,
// which replaces operator new.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "counting_allocator.hpp"

#include <unixdgram.hpp>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/datagram_protocol.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using bench_clock = std::chrono::steady_clock;
using unixdgram_socket = unixdgram::datagram_socket<>;
using asio_socket = asio::local::datagram_protocol::socket;

// Datagrams queued before the receiver starts draining them.
constexpr std::size_t batch_size = 32;

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "bench_cpp: %s\n", what.c_str());
    std::exit(EXIT_FAILURE);
}

void check(bool ok, const char* what)
{
    if (!ok)
        fail(std::string(what) + ": " + std::strerror(errno));
}

void check(const std::error_code& ec, std::size_t bytes, std::size_t expected, const char* what)
{
    if (ec)
        fail(std::string(what) + ": " + ec.message());
    if (bytes != expected)
        fail(std::string(what) + ": " + std::to_string(bytes) + " bytes instead of " +
             std::to_string(expected));
}

// Whether a raw pair's sockets sit in an epoll set. Every Asio socket does,
// from the moment it is opened, and so pays for a wakeup callback in the
// kernel whenever a datagram is queued or freed, whether or not anyone
// waits: the floor under any socket built on Asio.
enum class registration { none, epoll };

// Two connected descriptors that close themselves; blocking, like the
// sockets a plain C program makes.
struct raw_pair {
    int sender = -1;
    int receiver = -1;
    int epoll = -1;

    explicit raw_pair(registration how = registration::none)
    {
        int fds[2];
        check(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
        sender = fds[0];
        receiver = fds[1];
        if (how == registration::epoll) {
            epoll = ::epoll_create1(EPOLL_CLOEXEC);
            check(epoll >= 0, "epoll_create1");
            for (int fd : fds) {
                // The events Asio's epoll_reactor registers a socket with.
                epoll_event event{};
                event.events = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLPRI | EPOLLET;
                event.data.fd = fd;
                check(::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0, "epoll_ctl");
            }
        }
    }
    raw_pair(const raw_pair&) = delete;
    raw_pair& operator=(const raw_pair&) = delete;
    ~raw_pair()
    {
        ::close(sender);
        ::close(receiver);
        if (epoll >= 0)
            ::close(epoll);
    }
};

const char* const floor_suffix = ", in an epoll set (Asio's floor)";

// The descriptor every fd-passing contender sends.
struct dev_null {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

    dev_null() { check(fd >= 0, "open /dev/null"); }
    dev_null(const dev_null&) = delete;
    dev_null& operator=(const dev_null&) = delete;
    ~dev_null() { ::close(fd); }
};

void connect(asio_socket& first, asio_socket& second)
{
    asio::local::connect_pair(first, second);
}

void connect(unixdgram_socket& first, unixdgram_socket& second)
{
    unixdgram::connect_pair(first, second);
}

// Two connected sockets of a type and the io_context they run on.
template <typename Socket>
struct connected_sockets {
    asio::io_context io;
    Socket sender{io};
    Socket receiver{io};

    connected_sockets() { connect(sender, receiver); }
};

// One way of moving datagrams: `run(batches)` queues `batch_size` datagrams
// and drains them again, `batches` times.
class contender {
public:
    contender(std::string key, std::string label, std::string target = "-")
        : key(std::move(key)), label(std::move(label)), target(std::move(target))
    {
    }
    virtual ~contender() = default;
    virtual void run(std::size_t batches) = 0;

    const std::string key;
    const std::string label;
    const std::string target;
};

// A contender driven by completion handlers: run() starts the first batch
// and runs the context until the last batch's handler starts no more.
class async_contender : public contender {
public:
    using contender::contender;

    void run(std::size_t batches) final
    {
        batches_left_ = batches;
        context().restart();
        next_batch();
        context().run();
    }

protected:
    virtual asio::io_context& context() = 0;
    virtual void start_batch() = 0;

    // Called by the handler that finishes a batch.
    void next_batch()
    {
        if (batches_left_ == 0)
            return;
        --batches_left_;
        start_batch();
    }

private:
    std::size_t batches_left_ = 0;
};

// Fill-then-drain, one datagram per call ------------------------------------

// send and recv, or (the calls the Lua binding makes) recvmsg, which lets a
// receive see MSG_CTRUNC for descriptors it did not ask for (the kernel has
// closed them) and costs more in the kernel than recv: the Lua rows' floor.
enum class raw_receive { recv, recvmsg };

class raw_send_recv final : public contender {
public:
    explicit raw_send_recv(std::size_t payload, registration how = registration::none,
                           raw_receive receive = raw_receive::recv)
        : contender(receive == raw_receive::recvmsg ? "raw_recvmsg"
                    : how == registration::none     ? "raw"
                                                    : "raw_epoll",
                    receive == raw_receive::recvmsg ? "raw send/recvmsg (the Lua binding's calls)"
                    : how == registration::none     ? std::string("raw send/recv (baseline)")
                                                    : std::string("raw send/recv") + floor_suffix),
          pair_(how), receive_(receive), out_(payload), in_(payload)
    {
    }

    void run(std::size_t batches) override
    {
        for (std::size_t batch = 0; batch < batches; ++batch) {
            for (std::size_t i = 0; i < batch_size; ++i)
                check(::send(pair_.sender, out_.data(), out_.size(), 0) ==
                          static_cast<ssize_t>(out_.size()),
                      "send");
            for (std::size_t i = 0; i < batch_size; ++i)
                check(receive() == static_cast<ssize_t>(in_.size()), "recv");
        }
    }

private:
    ssize_t receive()
    {
        if (receive_ == raw_receive::recv)
            return ::recv(pair_.receiver, in_.data(), in_.size(), 0);
        iovec buffer{in_.data(), in_.size()};
        msghdr message{};
        message.msg_iov = &buffer;
        message.msg_iovlen = 1;
        return ::recvmsg(pair_.receiver, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    }

    raw_pair pair_;
    raw_receive receive_;
    std::vector<char> out_;
    std::vector<char> in_;
};

// Any socket with Asio's synchronous send and receive.
template <typename Socket>
class sync_send_receive final : public contender {
public:
    sync_send_receive(std::string key, std::string label, std::size_t payload,
                      std::string target = "-")
        : contender(std::move(key), std::move(label), std::move(target)), out_(payload),
          in_(payload)
    {
    }

    void run(std::size_t batches) override
    {
        std::error_code ec;
        for (std::size_t batch = 0; batch < batches; ++batch) {
            for (std::size_t i = 0; i < batch_size; ++i)
                check(ec, sockets_.sender.send(asio::buffer(out_), 0, ec), out_.size(), "send");
            for (std::size_t i = 0; i < batch_size; ++i)
                check(ec, sockets_.receiver.receive(asio::buffer(in_), 0, ec), in_.size(),
                      "receive");
        }
    }

private:
    connected_sockets<Socket> sockets_;
    std::vector<char> out_;
    std::vector<char> in_;
};

// Any socket with Asio's async_send and async_receive, each completion
// starting the next operation, as a callback-driven program does.
template <typename Socket>
class async_callbacks final : public async_contender {
public:
    async_callbacks(std::string key, std::string label, std::size_t payload,
                    std::string target = "-")
        : async_contender(std::move(key), std::move(label), std::move(target)), out_(payload),
          in_(payload)
    {
    }

private:
    asio::io_context& context() override { return sockets_.io; }

    void start_batch() override
    {
        done_ = 0;
        send_next();
    }

    void send_next()
    {
        sockets_.sender.async_send(asio::buffer(out_),
                                   [this](std::error_code ec, std::size_t bytes) {
                                       check(ec, bytes, out_.size(), "async_send");
                                       if (++done_ < batch_size)
                                           return send_next();
                                       done_ = 0;
                                       receive_next();
                                   });
    }

    void receive_next()
    {
        sockets_.receiver.async_receive(asio::buffer(in_),
                                        [this](std::error_code ec, std::size_t bytes) {
                                            check(ec, bytes, in_.size(), "async_receive");
                                            if (++done_ < batch_size)
                                                return receive_next();
                                            next_batch();
                                        });
    }

    connected_sockets<Socket> sockets_;
    std::vector<char> out_;
    std::vector<char> in_;
    std::size_t done_ = 0;
};

class unixdgram_coroutine final : public contender {
public:
    explicit unixdgram_coroutine(std::size_t payload)
        : contender("unixdgram_coro", "unixdgram async (C++20 coroutine)"), out_(payload),
          in_(payload)
    {
    }

    void run(std::size_t batches) override
    {
        sockets_.io.restart();
        asio::co_spawn(sockets_.io, loop(batches), [](std::exception_ptr error) {
            if (error)
                std::rethrow_exception(error);
        });
        sockets_.io.run();
    }

private:
    asio::awaitable<void> loop(std::size_t batches)
    {
        for (std::size_t batch = 0; batch < batches; ++batch) {
            for (std::size_t i = 0; i < batch_size; ++i) {
                std::size_t bytes =
                    co_await sockets_.sender.async_send(asio::buffer(out_), asio::use_awaitable);
                check({}, bytes, out_.size(), "async_send");
            }
            for (std::size_t i = 0; i < batch_size; ++i) {
                std::size_t bytes = co_await sockets_.receiver.async_receive(asio::buffer(in_),
                                                                             asio::use_awaitable);
                check({}, bytes, in_.size(), "async_receive");
            }
        }
    }

    connected_sockets<unixdgram_socket> sockets_;
    std::vector<char> out_;
    std::vector<char> in_;
};

// One descriptor per datagram ---------------------------------------------

class raw_scm_rights final : public contender {
public:
    explicit raw_scm_rights(std::size_t payload, registration how = registration::none)
        : contender(how == registration::none ? "raw" : "raw_epoll",
                    how == registration::none
                        ? std::string("raw sendmsg/recvmsg SCM_RIGHTS (baseline)")
                        : std::string("raw sendmsg/recvmsg SCM_RIGHTS") + floor_suffix),
          pair_(how), out_(payload), in_(payload)
    {
    }

    void run(std::size_t batches) override
    {
        iovec out_vector{out_.data(), out_.size()};
        alignas(cmsghdr) unsigned char out_control[CMSG_SPACE(sizeof(int))] = {};
        msghdr out_message{};
        out_message.msg_iov = &out_vector;
        out_message.msg_iovlen = 1;
        out_message.msg_control = out_control;
        out_message.msg_controllen = sizeof(out_control);
        cmsghdr* out_header = CMSG_FIRSTHDR(&out_message);
        out_header->cmsg_level = SOL_SOCKET;
        out_header->cmsg_type = SCM_RIGHTS;
        out_header->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(out_header), &passed_.fd, sizeof(int));

        iovec in_vector{in_.data(), in_.size()};
        alignas(cmsghdr) unsigned char in_control[CMSG_SPACE(sizeof(int))];
        for (std::size_t batch = 0; batch < batches; ++batch) {
            for (std::size_t i = 0; i < batch_size; ++i)
                check(::sendmsg(pair_.sender, &out_message, 0) == static_cast<ssize_t>(out_.size()),
                      "sendmsg");
            for (std::size_t i = 0; i < batch_size; ++i) {
                msghdr in_message{};
                in_message.msg_iov = &in_vector;
                in_message.msg_iovlen = 1;
                in_message.msg_control = in_control;
                in_message.msg_controllen = sizeof(in_control);
                check(::recvmsg(pair_.receiver, &in_message, MSG_CMSG_CLOEXEC) ==
                          static_cast<ssize_t>(in_.size()),
                      "recvmsg");
                cmsghdr* header = CMSG_FIRSTHDR(&in_message);
                if (!header || header->cmsg_type != SCM_RIGHTS)
                    fail("recvmsg: no descriptor");
                int received;
                std::memcpy(&received, CMSG_DATA(header), sizeof(int));
                ::close(received);
            }
        }
    }

private:
    raw_pair pair_;
    dev_null passed_;
    std::vector<char> out_;
    std::vector<char> in_;
};

class unixdgram_sync_fds final : public contender {
public:
    explicit unixdgram_sync_fds(std::size_t payload)
        : contender("unixdgram_sync", "unixdgram sync send_with_fds/receive_with_fds", "1.10"),
          out_(payload), in_(payload)
    {
    }

    void run(std::size_t batches) override
    {
        std::error_code ec;
        const int passed[] = {passed_.fd};
        std::array<unixdgram::file_descriptor, 1> received;
        for (std::size_t batch = 0; batch < batches; ++batch) {
            for (std::size_t i = 0; i < batch_size; ++i)
                check(ec, sockets_.sender.send_with_fds(asio::buffer(out_), passed, 0, ec),
                      out_.size(), "send_with_fds");
            for (std::size_t i = 0; i < batch_size; ++i) {
                auto result =
                    sockets_.receiver.receive_with_fds(asio::buffer(in_), received, 0, ec);
                check(ec, result.bytes, in_.size(), "receive_with_fds");
                if (result.fds.size() != 1)
                    fail("receive_with_fds: no descriptor");
                result.fds[0].reset();
            }
        }
    }

private:
    connected_sockets<unixdgram_socket> sockets_;
    dev_null passed_;
    std::vector<char> out_;
    std::vector<char> in_;
};

class unixdgram_async_fds final : public async_contender {
public:
    explicit unixdgram_async_fds(std::size_t payload)
        : async_contender("unixdgram_async", "unixdgram async (callbacks) with fds", "1.10"),
          out_(payload), in_(payload)
    {
    }

private:
    asio::io_context& context() override { return sockets_.io; }

    void start_batch() override
    {
        done_ = 0;
        send_next();
    }

    void send_next()
    {
        sockets_.sender.async_send_with_fds(
            asio::buffer(out_), std::span<const int>(&passed_.fd, 1),
            [this](std::error_code ec, std::size_t bytes) {
                check(ec, bytes, out_.size(), "async_send_with_fds");
                if (++done_ < batch_size)
                    return send_next();
                done_ = 0;
                receive_next();
            });
    }

    void receive_next()
    {
        sockets_.receiver.async_receive_with_fds(
            asio::buffer(in_), received_,
            [this](std::error_code ec, unixdgram::receive_result result) {
                check(ec, result.bytes, in_.size(), "async_receive_with_fds");
                if (result.fds.size() != 1)
                    fail("async_receive_with_fds: no descriptor");
                result.fds[0].reset();
                if (++done_ < batch_size)
                    return receive_next();
                next_batch();
            });
    }

    connected_sockets<unixdgram_socket> sockets_;
    dev_null passed_;
    std::array<unixdgram::file_descriptor, 1> received_;
    std::vector<char> out_;
    std::vector<char> in_;
    std::size_t done_ = 0;
};

// Batches: many datagrams per call ------------------------------------------

class raw_mmsg final : public contender {
public:
    explicit raw_mmsg(std::size_t payload, registration how = registration::none)
        : contender(how == registration::none ? "raw_mmsg" : "raw_mmsg_epoll",
                    how == registration::none
                        ? std::string("raw sendmmsg/recvmmsg, 32 per call")
                        : std::string("raw sendmmsg/recvmmsg, 32 per call") + floor_suffix),
          pair_(how), out_(payload), in_(payload * batch_size)
    {
    }

    void run(std::size_t batches) override
    {
        std::array<iovec, batch_size> out_vectors;
        std::array<iovec, batch_size> in_vectors;
        std::array<mmsghdr, batch_size> out_messages{};
        std::array<mmsghdr, batch_size> in_messages{};
        for (std::size_t i = 0; i < batch_size; ++i) {
            out_vectors[i] = {out_.data(), out_.size()};
            in_vectors[i] = {in_.data() + i * out_.size(), out_.size()};
            out_messages[i].msg_hdr.msg_iov = &out_vectors[i];
            out_messages[i].msg_hdr.msg_iovlen = 1;
            in_messages[i].msg_hdr.msg_iov = &in_vectors[i];
            in_messages[i].msg_hdr.msg_iovlen = 1;
        }
        for (std::size_t batch = 0; batch < batches; ++batch) {
            check(::sendmmsg(pair_.sender, out_messages.data(), batch_size, 0) ==
                      static_cast<int>(batch_size),
                  "sendmmsg");
            check(::recvmmsg(pair_.receiver, in_messages.data(), batch_size, 0, nullptr) ==
                      static_cast<int>(batch_size),
                  "recvmmsg");
        }
    }

private:
    raw_pair pair_;
    std::vector<char> out_;
    std::vector<char> in_;
};

// The entries of one batch of `batch_size` datagrams each way.
struct batch_entries {
    explicit batch_entries(std::size_t payload) : out(payload), in(payload * batch_size)
    {
        for (std::size_t i = 0; i < batch_size; ++i) {
            sends[i].buffer = asio::buffer(out);
            receives[i].buffer = asio::buffer(in.data() + i * payload, payload);
        }
    }

    std::vector<char> out;
    std::vector<char> in;
    std::array<unixdgram::send_entry, batch_size> sends;
    std::array<unixdgram::receive_entry, batch_size> receives;
};

class unixdgram_sync_batch final : public contender {
public:
    explicit unixdgram_sync_batch(std::size_t payload)
        : contender("unixdgram_sync", "unixdgram send_many/receive_many, 32 per call", "0.75"),
          entries_(payload)
    {
    }

    void run(std::size_t batches) override
    {
        std::error_code ec;
        for (std::size_t batch = 0; batch < batches; ++batch) {
            check(ec, sockets_.sender.send_many(entries_.sends, 0, ec), batch_size, "send_many");
            std::size_t received = 0;
            while (received < batch_size) {
                std::size_t count = sockets_.receiver.receive_many(
                    std::span(entries_.receives).subspan(received), 0, ec);
                check(ec, count == 0 ? 1 : entries_.receives[received].bytes, entries_.out.size(),
                      "receive_many");
                received += count;
            }
        }
    }

private:
    connected_sockets<unixdgram_socket> sockets_;
    batch_entries entries_;
};

class unixdgram_async_batch final : public async_contender {
public:
    explicit unixdgram_async_batch(std::size_t payload)
        : async_contender("unixdgram_async", "unixdgram async_send_many/receive_many, 32 per call",
                          "0.75"),
          entries_(payload)
    {
    }

private:
    asio::io_context& context() override { return sockets_.io; }

    void start_batch() override
    {
        sockets_.sender.async_send_many(entries_.sends,
                                        [this](std::error_code ec, std::size_t count) {
                                            check(ec, count, batch_size, "async_send_many");
                                            received_ = 0;
                                            receive_rest();
                                        });
    }

    void receive_rest()
    {
        sockets_.receiver.async_receive_many(std::span(entries_.receives).subspan(received_),
                                             [this](std::error_code ec, std::size_t count) {
                                                 check(ec, entries_.receives[received_].bytes,
                                                       entries_.out.size(), "async_receive_many");
                                                 received_ += count;
                                                 if (received_ < batch_size)
                                                     return receive_rest();
                                                 next_batch();
                                             });
    }

    connected_sockets<unixdgram_socket> sockets_;
    batch_entries entries_;
    std::size_t received_ = 0;
};

// Measuring ----------------------------------------------------------------

struct options {
    std::size_t rounds = 7;
    std::size_t datagrams = 16384;
    std::size_t round_trips = 20000;
    std::vector<std::string> workloads = {"fill64",  "fill1k",   "fd64",
                                          "batch64", "pingpong", "pingpong1"};
    std::vector<std::string> contenders; // empty: all of them
    bool allocations = false;
};

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    std::size_t middle = values.size() / 2;
    return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

double percentile(std::vector<double>& sorted_values, double fraction)
{
    std::size_t index = static_cast<std::size_t>(fraction * (sorted_values.size() - 1) + 0.5);
    return sorted_values[index];
}

std::string format_ns(double ns)
{
    char text[32];
    std::snprintf(text, sizeof(text), "%.1f", ns);
    return text;
}

void print_workload(const std::string& id, const std::string& title)
{
    std::printf("workload\t%s\t%s\n", id.c_str(), title.c_str());
}

void print_row(const std::string& workload, const std::string& key, const std::string& label,
               double ns, const std::string& p99, const std::string& target)
{
    std::printf("row\t%s\t%s\t%s\t%s\t%s\t%s\n", workload.c_str(), key.c_str(), label.c_str(),
                format_ns(ns).c_str(), p99.c_str(), target.c_str());
    std::fflush(stdout);
}

// Heap allocations per datagram once warm: the difference between a long
// and a short run, so that what a run costs once (a coroutine's spawn) is
// not charged to its datagrams.
double allocations_per_datagram(contender& c)
{
    constexpr std::size_t short_run = 4;
    constexpr std::size_t long_run = 68;
    c.run(short_run);
    std::size_t before = unixdgram_test::heap_allocations();
    c.run(short_run);
    std::size_t short_cost = unixdgram_test::heap_allocations() - before;
    before = unixdgram_test::heap_allocations();
    c.run(long_run);
    std::size_t long_cost = unixdgram_test::heap_allocations() - before;
    double extra = static_cast<double>(long_cost) - static_cast<double>(short_cost);
    return std::max(extra, 0.0) / static_cast<double>((long_run - short_run) * batch_size);
}

// Whether --contenders (empty: all of them) keeps the contender `key`.
bool is_wanted(const options& opts, std::string_view key)
{
    return opts.contenders.empty() ||
           std::find(opts.contenders.begin(), opts.contenders.end(), key) != opts.contenders.end();
}

void measure(const options& opts, const std::string& workload, const std::string& title,
             std::vector<std::unique_ptr<contender>> contenders)
{
    print_workload(workload, title);
    std::erase_if(contenders, [&](const auto& c) { return !is_wanted(opts, c->key); });
    if (opts.allocations) {
        for (auto& c : contenders)
            std::printf("allocations\t%s\t%s\t%.3f\n", workload.c_str(), c->key.c_str(),
                        allocations_per_datagram(*c));
        std::fflush(stdout);
        return;
    }
    const std::size_t batches = std::max<std::size_t>(opts.datagrams / batch_size, 1);
    for (auto& c : contenders)
        c->run(std::max<std::size_t>(batches / 8, 1));
    std::vector<std::vector<double>> samples(contenders.size());
    for (std::size_t round = 0; round < opts.rounds; ++round) {
        for (std::size_t i = 0; i < contenders.size(); ++i) {
            auto start = bench_clock::now();
            contenders[i]->run(batches);
            std::chrono::duration<double, std::nano> elapsed = bench_clock::now() - start;
            samples[i].push_back(elapsed.count() / static_cast<double>(batches * batch_size));
        }
    }
    for (std::size_t i = 0; i < contenders.size(); ++i)
        print_row(workload, contenders[i]->key, contenders[i]->label, median(samples[i]), "-",
                  contenders[i]->target);
}

template <typename... Contenders>
std::vector<std::unique_ptr<contender>> make_contenders(std::unique_ptr<Contenders>... c)
{
    std::vector<std::unique_ptr<contender>> all;
    (all.push_back(std::move(c)), ...);
    return all;
}

void fill_then_drain(const options& opts, const std::string& workload, std::size_t payload)
{
    std::string title =
        "fill-drain 32 x " + (payload >= 1024 ? std::to_string(payload / 1024) + " KiB"
                                              : std::to_string(payload) + " B");
    measure(opts, workload, title,
            make_contenders(
                std::make_unique<raw_send_recv>(payload),
                std::make_unique<raw_send_recv>(payload, registration::epoll),
                std::make_unique<raw_send_recv>(payload, registration::none, raw_receive::recvmsg),
                std::make_unique<sync_send_receive<asio_socket>>("asio_sync", "Asio socket, sync",
                                                                 payload),
                std::make_unique<async_callbacks<asio_socket>>(
                    "asio_async", "Asio socket, async (callbacks)", payload),
                std::make_unique<sync_send_receive<unixdgram_socket>>("unixdgram_sync",
                                                                      "unixdgram sync", payload),
                std::make_unique<async_callbacks<unixdgram_socket>>(
                    "unixdgram_async", "unixdgram async (callbacks)", payload,
                    payload == 64 ? "1.08" : "-"),
                std::make_unique<unixdgram_coroutine>(payload)));
}

void one_fd_per_datagram(const options& opts)
{
    measure(opts, "fd64", "1 fd + 64 B per datagram, fill-drain 32",
            make_contenders(std::make_unique<raw_scm_rights>(64),
                            std::make_unique<raw_scm_rights>(64, registration::epoll),
                            std::make_unique<unixdgram_sync_fds>(64),
                            std::make_unique<unixdgram_async_fds>(64)));
}

void batches(const options& opts)
{
    measure(opts, "batch64", "batch of 32 x 64 B vs one call per datagram",
            make_contenders(std::make_unique<raw_send_recv>(64), std::make_unique<raw_mmsg>(64),
                            std::make_unique<raw_mmsg>(64, registration::epoll),
                            std::make_unique<unixdgram_sync_batch>(64),
                            std::make_unique<unixdgram_async_batch>(64)));
}

// Ping-pong between two processes -------------------------------------------

constexpr std::size_t ping_size = 64;

// Each side of a ping-pong: the echoing child and the timing parent use the
// same kind of socket, so a round trip costs two of its sends and receives.
enum class ping_kind { raw, raw_epoll, unixdgram_sync, unixdgram_async };

// A reactor's floor: the calls an async receive makes when nothing has come
// yet, on a socket in an epoll set (edge-triggered, as Asio's): the attempt,
// EAGAIN, epoll_wait, the attempt again. Blocking recv wakes in one call.
class epoll_receiver {
public:
    explicit epoll_receiver(int fd) : fd_(fd), epoll_(::epoll_create1(EPOLL_CLOEXEC))
    {
        check(epoll_ >= 0, "epoll_create1");
        epoll_event event{};
        event.events = EPOLLIN | EPOLLET;
        check(::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) == 0, "epoll_ctl");
    }
    epoll_receiver(const epoll_receiver&) = delete;
    epoll_receiver& operator=(const epoll_receiver&) = delete;
    ~epoll_receiver() { ::close(epoll_); }

    void receive(char* buffer)
    {
        for (;;) {
            ssize_t got = ::recv(fd_, buffer, ping_size, MSG_DONTWAIT);
            if (got == static_cast<ssize_t>(ping_size))
                return;
            check(got < 0 && errno == EAGAIN, "recv");
            epoll_event event{};
            check(::epoll_wait(epoll_, &event, 1, -1) == 1, "epoll_wait");
        }
    }

private:
    int fd_;
    int epoll_;
};

void echo_raw(int fd, std::size_t round_trips)
{
    char buffer[ping_size];
    for (std::size_t i = 0; i < round_trips; ++i) {
        check(::recv(fd, buffer, sizeof(buffer), 0) == ping_size, "recv");
        check(::send(fd, buffer, sizeof(buffer), 0) == ping_size, "send");
    }
}

void echo_raw_epoll(int fd, std::size_t round_trips)
{
    epoll_receiver receiver(fd);
    char buffer[ping_size];
    for (std::size_t i = 0; i < round_trips; ++i) {
        receiver.receive(buffer);
        check(::send(fd, buffer, sizeof(buffer), 0) == ping_size, "send");
    }
}

void echo_unixdgram_sync(int fd, std::size_t round_trips)
{
    asio::io_context io;
    unixdgram_socket socket(io, fd);
    char buffer[ping_size];
    for (std::size_t i = 0; i < round_trips; ++i) {
        socket.receive(asio::buffer(buffer));
        socket.send(asio::buffer(buffer));
    }
}

// Round trips driven by completions, timing each one when `times` is given.
class async_ping {
public:
    async_ping(int fd, std::size_t round_trips, bool initiator, std::vector<double>* times)
        : socket_(io_, fd), left_(round_trips), initiator_(initiator), times_(times)
    {
    }

    void run()
    {
        if (initiator_)
            send();
        else
            receive();
        io_.run();
    }

private:
    void send()
    {
        if (initiator_)
            started_ = bench_clock::now();
        socket_.async_send(asio::buffer(buffer_), [this](std::error_code ec, std::size_t bytes) {
            check(ec, bytes, ping_size, "async_send");
            if (initiator_)
                return receive();
            if (--left_ > 0)
                receive();
        });
    }

    void receive()
    {
        socket_.async_receive(asio::buffer(buffer_), [this](std::error_code ec, std::size_t bytes) {
            check(ec, bytes, ping_size, "async_receive");
            if (!initiator_)
                return send();
            if (times_) {
                std::chrono::duration<double, std::nano> elapsed = bench_clock::now() - started_;
                times_->push_back(elapsed.count());
            }
            if (--left_ > 0)
                send();
        });
    }

    asio::io_context io_;
    unixdgram_socket socket_;
    char buffer_[ping_size] = {};
    std::size_t left_;
    bool initiator_;
    std::vector<double>* times_;
    bench_clock::time_point started_;
};

// The parent's side; returns the round-trip times in ns.
std::vector<double> ping(ping_kind kind, int fd, std::size_t round_trips)
{
    std::vector<double> times;
    times.reserve(round_trips);
    char buffer[ping_size] = {};
    switch (kind) {
    case ping_kind::raw:
        for (std::size_t i = 0; i < round_trips; ++i) {
            auto start = bench_clock::now();
            check(::send(fd, buffer, sizeof(buffer), 0) == ping_size, "send");
            check(::recv(fd, buffer, sizeof(buffer), 0) == ping_size, "recv");
            times.push_back(
                std::chrono::duration<double, std::nano>(bench_clock::now() - start).count());
        }
        ::close(fd);
        break;
    case ping_kind::raw_epoll: {
        epoll_receiver receiver(fd);
        for (std::size_t i = 0; i < round_trips; ++i) {
            auto start = bench_clock::now();
            check(::send(fd, buffer, sizeof(buffer), 0) == ping_size, "send");
            receiver.receive(buffer);
            times.push_back(
                std::chrono::duration<double, std::nano>(bench_clock::now() - start).count());
        }
        ::close(fd);
        break;
    }
    case ping_kind::unixdgram_sync: {
        asio::io_context io;
        unixdgram_socket socket(io, fd);
        for (std::size_t i = 0; i < round_trips; ++i) {
            auto start = bench_clock::now();
            socket.send(asio::buffer(buffer));
            socket.receive(asio::buffer(buffer));
            times.push_back(
                std::chrono::duration<double, std::nano>(bench_clock::now() - start).count());
        }
        break;
    }
    case ping_kind::unixdgram_async:
        async_ping(fd, round_trips, true, &times).run();
        break;
    }
    return times;
}

// Where the two processes of a ping-pong run. Left to the scheduler, the
// placement decides the figure and differs by row: on these VMs a blocking
// recv woken by its peer was moved to the peer's vCPU (3 us a round trip)
// while a wait in epoll_wait was woken on the other one (80 us), so the
// ratios compared placements, not code. Each row is therefore measured both
// ways, with the processes pinned.
struct cpu_placement {
    const char* workload;
    const char* title;
    int parent_cpu;
    int child_cpu;
};

// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    check(::sched_getaffinity(0, sizeof(set), &set) == 0, "sched_getaffinity");
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set))
            cpus.push_back(cpu);
    }
    return cpus;
}

void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    check(::sched_setaffinity(0, sizeof(set), &set) == 0, "sched_setaffinity");
}

// One child process echoing `round_trips` datagrams, each process on its
// CPU of `placement`; returns p50 and p99.
std::pair<double, double> ping_pong_once(ping_kind kind, std::size_t round_trips,
                                         const cpu_placement& placement)
{
    int fds[2];
    check(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
    std::fflush(stdout);
    pid_t child = ::fork();
    check(child >= 0, "fork");
    if (child == 0) {
        pin_to(placement.child_cpu);
        ::close(fds[0]);
        switch (kind) {
        case ping_kind::raw:
            echo_raw(fds[1], round_trips);
            break;
        case ping_kind::raw_epoll:
            echo_raw_epoll(fds[1], round_trips);
            break;
        case ping_kind::unixdgram_sync:
            echo_unixdgram_sync(fds[1], round_trips);
            break;
        case ping_kind::unixdgram_async:
            async_ping(fds[1], round_trips, false, nullptr).run();
            break;
        }
        std::_Exit(EXIT_SUCCESS);
    }
    ::close(fds[1]);
    std::vector<double> times = ping(kind, fds[0], round_trips);
    int status = 0;
    check(::waitpid(child, &status, 0) == child, "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_SUCCESS)
        fail("ping-pong child failed");
    // The first round trips warm caches and wake the child from its start.
    times.erase(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 10));
    std::sort(times.begin(), times.end());
    return {percentile(times, 0.5), percentile(times, 0.99)};
}

void ping_pong_pinned(const options& opts, const cpu_placement& placement)
{
    if (opts.allocations)
        return;
    print_workload(placement.workload, placement.title);
    struct side {
        ping_kind kind;
        const char* key;
        const char* label;
        const char* target;
    };
    std::vector<side> sides = {
        {ping_kind::raw, "raw", "raw send/recv (baseline)", "-"},
        {ping_kind::raw_epoll, "raw_epoll", "raw send/recv through epoll_wait (a reactor's floor)",
         "-"},
        {ping_kind::unixdgram_sync, "unixdgram_sync", "unixdgram sync", "-"},
        {ping_kind::unixdgram_async, "unixdgram_async", "unixdgram async (callbacks)", "1.04"},
    };
    std::erase_if(sides, [&](const side& s) { return !is_wanted(opts, s.key); });
    cpu_set_t own_cpus;
    check(::sched_getaffinity(0, sizeof(own_cpus), &own_cpus) == 0, "sched_getaffinity");
    pin_to(placement.parent_cpu);
    std::vector<std::vector<double>> p50s(sides.size()), p99s(sides.size());
    for (std::size_t round = 0; round < opts.rounds; ++round) {
        for (std::size_t i = 0; i < sides.size(); ++i) {
            auto [p50, p99] = ping_pong_once(sides[i].kind, opts.round_trips, placement);
            p50s[i].push_back(p50);
            p99s[i].push_back(p99);
        }
    }
    check(::sched_setaffinity(0, sizeof(own_cpus), &own_cpus) == 0, "sched_setaffinity");
    for (std::size_t i = 0; i < sides.size(); ++i)
        print_row(placement.workload, sides[i].key, sides[i].label, median(p50s[i]),
                  format_ns(median(p99s[i])), sides[i].target);
}

// pingpong: each process on a CPU of its own, each message waking the other
// CPU (which the hypervisor's wakeup dominates); pingpong1: both on one CPU,
// each message a switch between them, so that the figure is the software's.
// With one CPU allowed, only pingpong1.
void ping_pong(const options& opts, std::string_view workload)
{
    const std::vector<int> cpus = allowed_cpus();
    check(!cpus.empty(), "no CPU allowed");
    if (workload == "pingpong1") {
        ping_pong_pinned(opts,
                         {"pingpong1",
                          "ping-pong 64 B, 2 processes on one CPU (ns per round trip: p50, p99)",
                          cpus[0], cpus[0]});
    } else if (cpus.size() > 1) {
        ping_pong_pinned(opts,
                         {"pingpong",
                          "ping-pong 64 B, 2 processes on two CPUs (ns per round trip: p50, p99)",
                          cpus[0], cpus[1]});
    } else {
        std::fprintf(stderr, "bench_cpp: one CPU allowed; no two-CPU ping-pong\n");
    }
}

std::size_t parse_count(std::string_view text, const char* option)
{
    std::size_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0)
        fail(std::string(option) + " needs a positive number");
    return value;
}

std::vector<std::string> split(std::string_view list)
{
    std::vector<std::string> items;
    while (!list.empty()) {
        auto comma = list.find(',');
        items.emplace_back(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    return items;
}

options parse_options(int argc, char** argv)
{
    options opts;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc)
                fail(std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--rounds") {
            opts.rounds = parse_count(value(), "--rounds");
        } else if (arg == "--datagrams") {
            opts.datagrams = parse_count(value(), "--datagrams");
        } else if (arg == "--round-trips") {
            opts.round_trips = parse_count(value(), "--round-trips");
        } else if (arg == "--workloads") {
            opts.workloads = split(value());
        } else if (arg == "--contenders") {
            opts.contenders = split(value());
        } else if (arg == "--allocations") {
            opts.allocations = true;
        } else {
            fail("unknown argument " + std::string(arg) +
                 " (usage: bench_cpp [--rounds N] [--datagrams N] [--round-trips N]"
                 " [--workloads fill64,fill1k,fd64,batch64,pingpong,pingpong1] [--contenders "
                 "key,...]"
                 " [--allocations])");
        }
    }
    return opts;
}

} // namespace

int main(int argc, char** argv)
{
    const options opts = parse_options(argc, argv);
    const std::vector<std::pair<std::string, std::function<void()>>> workloads = {
        {"fill64", [&] { fill_then_drain(opts, "fill64", 64); }},
        {"fill1k", [&] { fill_then_drain(opts, "fill1k", 1024); }},
        {"fd64", [&] { one_fd_per_datagram(opts); }},
        {"batch64", [&] { batches(opts); }},
        {"pingpong", [&] { ping_pong(opts, "pingpong"); }},
        {"pingpong1", [&] { ping_pong(opts, "pingpong1"); }},
    };
    for (const std::string& wanted : opts.workloads) {
        auto found = std::find_if(workloads.begin(), workloads.end(),
                                  [&](const auto& workload) { return workload.first == wanted; });
        if (found == workloads.end())
            fail("unknown workload " + wanted);
        found->second();
    }
    return EXIT_SUCCESS;
}
