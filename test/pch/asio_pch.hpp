// Precompiled for the test programs' objects (test/meson.build, cpp_pch):
// every test includes Asio, whose headers took most of the compile time of
// the smaller tests when each compiled them again. Meson builds it once per
// build directory, with that directory's flags (sanitizers, clang). A test
// still includes what it uses: the self-contained header tests, built
// without it, are what checks the headers alone.
#include <asio.hpp>
