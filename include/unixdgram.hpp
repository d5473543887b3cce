//
// unixdgram.hpp — everything in the library.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_HPP
#define UNIXDGRAM_HPP

#include <unixdgram/batch.hpp>
#include <unixdgram/credentials.hpp>
#include <unixdgram/datagram_socket.hpp>
#include <unixdgram/error.hpp>
#include <unixdgram/file_descriptor.hpp>
#include <unixdgram/message.hpp>
#include <unixdgram/receive_result.hpp>
#include <unixdgram/systemd.hpp>
#include <unixdgram/version.hpp>

#endif // UNIXDGRAM_HPP
