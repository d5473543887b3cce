//
// unixdgram/detail/completion_queue.hpp — where an async operation whose first attempt did
// not block delivers its result: never inside the initiating call, and
// without a trip through the reactor when a handler starts the next one.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_COMPLETION_QUEUE_HPP
#define UNIXDGRAM_DETAIL_COMPLETION_QUEUE_HPP

#include <asio/associated_allocator.hpp>
#include <asio/associated_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/recycling_allocator.hpp>

#include <memory>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

namespace unixdgram::detail {

// A handler and the values it completes with, as one function of no
// arguments that allocates as the handler asks.
template <typename Handler, typename... Values>
class bound_completion {
public:
    using allocator_type = asio::associated_allocator_t<Handler>;

    template <typename... Args>
    explicit bound_completion(Handler&& handler, Args&&... values)
        : handler_(std::move(handler)), values_(std::forward<Args>(values)...)
    {
    }

    allocator_type get_allocator() const noexcept
    {
        return asio::get_associated_allocator(handler_);
    }

    void operator()() { std::apply(std::move(handler_), std::move(values_)); }

private:
    Handler handler_;
    std::tuple<Values...> values_;
};

// Completions of operations whose first attempt did not block, waiting to
// run on this thread after the handler running now returns. A handler that
// starts the next operation (the usual callback loop) would otherwise send
// each completion through the io_context's queue, and the io_context polls
// its reactor (one epoll_wait) between any two handlers it runs from there.
struct queued_completion {
    queued_completion* next = nullptr;
    // Frees the node, then runs the completion if `invoke`; else destroys it.
    void (*finish)(queued_completion* self, bool invoke) = nullptr;
};

template <typename Bound, typename Allocator>
struct queued_completion_node : queued_completion {
    using node_allocator =
        typename std::allocator_traits<Allocator>::template rebind_alloc<queued_completion_node>;

    queued_completion_node(Bound&& bound, const Allocator& allocator)
        : bound(std::move(bound)), allocator(allocator)
    {
        this->finish = &finish_node;
    }

    Bound bound;
    Allocator allocator;

    static queued_completion* make(Bound&& bound, const Allocator& allocator)
    {
        node_allocator nodes(allocator);
        auto* memory = std::allocator_traits<node_allocator>::allocate(nodes, 1);
        try {
            return new (memory) queued_completion_node(std::move(bound), allocator);
        } catch (...) {
            std::allocator_traits<node_allocator>::deallocate(nodes, memory, 1);
            throw;
        }
    }

    // The memory goes back before the handler runs, so that the operation
    // the handler starts can reuse it.
    static void finish_node(queued_completion* base, bool invoke)
    {
        auto* self = static_cast<queued_completion_node*>(base);
        node_allocator nodes(self->allocator);
        Bound bound(std::move(self->bound));
        self->~queued_completion_node();
        std::allocator_traits<node_allocator>::deallocate(nodes, self, 1);
        if (invoke)
            bound();
    }
};

// The queue of the completion_runner running on this thread, if any.
struct completion_queue {
    asio::io_context* context = nullptr;
    queued_completion* head = nullptr;
    queued_completion* tail = nullptr;

    void push(queued_completion* completion) noexcept
    {
        completion->next = nullptr;
        (tail ? tail->next : head) = completion;
        tail = completion;
    }

    queued_completion* pop() noexcept
    {
        queued_completion* first = head;
        head = first->next;
        if (!head)
            tail = nullptr;
        return first;
    }
};

inline thread_local completion_queue* running_completion_queue = nullptr;

// Posted to an io_context with the first completion of a chain: runs it, then
// the completions its handler's operations queue, and theirs, in order, up
// to a bound that gives the reactor and other handlers their turn.
class completion_runner {
public:
    completion_runner(asio::io_context& context, queued_completion* first) noexcept
        : context_(&context), first_(first)
    {
    }
    completion_runner(completion_runner&& other) noexcept
        : context_(other.context_), first_(std::exchange(other.first_, nullptr))
    {
    }
    completion_runner& operator=(completion_runner&&) = delete;
    ~completion_runner() { destroy(first_); }

    void operator()()
    {
        completion_queue queue{context_};
        for (queued_completion* at = std::exchange(first_, nullptr); at;) {
            queued_completion* next = at->next;
            queue.push(at);
            at = next;
        }
        scope running(queue);
        run_queued(queue);
    }

    // Calls `complete`, which runs the handler of an operation that waited,
    // as a runner of `context` runs its completions: those that the handler's
    // operations queue run after it here, rather than each after a trip
    // through the io_context's queue, which polls the reactor first (one
    // epoll_wait with no timeout per reply sent by a request's handler).
    // Its own queue even inside another runner's handler: there the
    // io_context runs this handler from a loop of its own (the outer handler
    // runs it, after post_queued), which may be waiting for them.
    template <typename Complete>
    static void complete_as_runner(asio::io_context& context, Complete&& complete)
    {
        completion_queue queue{&context};
        scope running(queue);
        std::forward<Complete>(complete)();
        run_queued(queue);
    }

    // Hands the completions queued on this thread back to their io_context,
    // and those the running handler's operations complete with from now on
    // go there too: for code that runs the io_context itself from inside a
    // handler, and would otherwise wait for a completion that runs only once
    // it returns. The handlers that loop runs queue theirs anew.
    static void post_queued() noexcept
    {
        if (completion_queue* queue = running_completion_queue) {
            hand_back(*queue);
            running_completion_queue = nullptr;
        }
    }

private:
    static constexpr int max_run = 64;

    static void run_queued(completion_queue& queue)
    {
        for (int ran = 0; queue.head && ran < max_run && !queue.context->stopped(); ++ran) {
            queued_completion* completion = queue.pop();
            completion->finish(completion, true);
        }
    }

    struct scope {
        completion_queue& queue;
        completion_queue* outer;

        explicit scope(completion_queue& queue) noexcept
            : queue(queue), outer(std::exchange(running_completion_queue, &queue))
        {
        }
        // Also when a handler throws: what is left is posted, not lost.
        ~scope()
        {
            running_completion_queue = outer;
            hand_back(queue);
        }
    };

    static void hand_back(completion_queue& queue) noexcept
    {
        queued_completion* rest = std::exchange(queue.head, nullptr);
        queue.tail = nullptr;
        if (!rest)
            return;
        try {
            asio::post(*queue.context, completion_runner(*queue.context, rest));
        } catch (...) {
            destroy(rest); // out of memory for the post: as if the io_context had gone
        }
    }

    static void destroy(queued_completion* at) noexcept
    {
        while (at) {
            queued_completion* next = at->next;
            at->finish(at, false);
            at = next;
        }
    }

    asio::io_context* context_;
    queued_completion* first_;
};

// The io_context a plain io_context executor runs on; null for any other
// kind of executor (a strand, a thread pool), whose rules we leave to it.
template <typename Executor>
asio::io_context* plain_io_context(const Executor& executor) noexcept
{
    if constexpr (std::is_same_v<Executor, asio::io_context::executor_type>) {
        return &executor.context();
    } else if constexpr (std::is_same_v<Executor, asio::any_io_executor>) {
        if (auto* target = executor.template target<asio::io_context::executor_type>())
            return &target->context();
    }
    return nullptr;
}

// Asio's own per-thread recycling stands in for std::allocator, as in its
// posts: steady state allocates nothing.
template <typename Allocator>
auto node_allocator(const Allocator& allocator) noexcept
{
    if constexpr (std::is_same_v<Allocator, std::allocator<void>>)
        return asio::recycling_allocator<void>();
    else
        return allocator;
}

// The executor a completion runs on: `handler`'s associated one. A handler
// without one (Asio's trait unspecialised, which Asio's own handler_work
// tests the same way) runs on `io_executor`, returned by reference: a copy
// of an any_io_executor costs each operation two indirect calls.
template <typename Handler, typename Executor>
decltype(auto) completion_executor(const Handler& handler, const Executor& io_executor) noexcept
{
    if constexpr (requires {
                      typename asio::associated_executor<
                          Handler, Executor>::asio_associated_executor_is_unspecialised;
                  })
        return (io_executor);
    else
        return asio::get_associated_executor(handler, io_executor);
}

// Where an operation whose first attempt did not block delivers its result,
// never inside the initiating call. On a plain io_context: queued on this
// thread when a completion_runner of that io_context is running (the
// initiating call is inside one of its handlers), else posted in a new
// runner. On any other executor: posted to it.
template <typename Handler, typename Executor>
struct immediate_completion {
    Handler& handler;
    const Executor& io_executor;

    template <typename... Values>
    void complete(Values&&... values)
    {
        const auto& executor = completion_executor(handler, io_executor);
        using bound_type = bound_completion<Handler, std::decay_t<Values>...>;
        bound_type bound(std::move(handler), std::forward<Values>(values)...);
        asio::io_context* context = plain_io_context(executor);
        if (!context)
            return asio::post(executor, std::move(bound));
        auto allocator = node_allocator(bound.get_allocator());
        queued_completion* completion =
            queued_completion_node<bound_type, decltype(allocator)>::make(std::move(bound),
                                                                          allocator);
        completion_queue* queue = running_completion_queue;
        if (queue && queue->context == context)
            return queue->push(completion);
        try {
            asio::post(*context, completion_runner(*context, completion));
        } catch (...) {
            completion->finish(completion, false);
            throw;
        }
    }
};

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_COMPLETION_QUEUE_HPP
