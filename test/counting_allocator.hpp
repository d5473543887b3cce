//
// counting_allocator.hpp — a count of the program's heap allocations.
//
// counting_allocator.cpp replaces the global operator new and delete, every
// form of them, with versions that count each allocation and take memory
// from malloc. A program that links it (test_allocations, bench_cpp) reads
// the count here; a program must not link it twice, nor replace the
// operators itself.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_COUNTING_ALLOCATOR_HPP
#define UNIXDGRAM_TEST_COUNTING_ALLOCATOR_HPP

#include <cstddef>

namespace unixdgram_test {

/// How many times any form of the global operator new has allocated since
/// the program started, in every thread.
std::size_t heap_allocations() noexcept;

} // namespace unixdgram_test

#endif // UNIXDGRAM_TEST_COUNTING_ALLOCATOR_HPP
