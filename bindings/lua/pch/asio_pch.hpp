// Precompiled for the binding's sources (bindings/lua/meson.build, cpp_pch),
// each of which includes Asio through unixdgram's headers: parsed once for
// the library instead of once per source file.
#include <asio.hpp>
