-- byte_span: a Go-like slice of bytes, 1-based.
local tap = require "tap"
local ud = require "unixdgram"
local byte_span = ud.byte_span

-- new
local span = byte_span.new(4)
tap.is(#span, 4, "new(len) has that length")
tap.is(span.capacity, 4, "new(len) has capacity len")
tap.is(tostring(span), "\0\0\0\0", "new spans are zero-filled")
local roomy = byte_span.new(2, 10)
tap.is(#roomy, 2, "new(len, cap) has length len")
tap.is(roomy.capacity, 10, "new(len, cap) has capacity cap")
tap.is(#byte_span.new(0), 0, "an empty span")
tap.is(byte_span.new(3.0).capacity, 3, "a float with an integer value is a length")

tap.raises({name = "EINVAL", arg = 1, category = "generic"}, "new(-1) raises",
    byte_span.new, -1)
tap.raises({name = "EINVAL", arg = 1}, "new(huge) raises", byte_span.new, math.maxinteger)
tap.raises({name = "EINVAL", arg = 1}, "new(1.5) raises", byte_span.new, 1.5)
tap.raises({name = "EINVAL", arg = 1, message = "integer expected, got string"},
    "new('4') raises: no string coercion", byte_span.new, "4")
tap.raises({name = "EINVAL", arg = 1}, "new() raises", byte_span.new)
tap.raises({name = "EINVAL", arg = 2, message = "capacity"}, "new(4, 2) raises",
    byte_span.new, 4, 2)

-- indexing
span[1] = 65
span[4] = 255
tap.is(span[1], 65, "bs[i] = v sets a byte")
tap.is(span[4], 255, "bs[i] = v sets the last byte")
tap.is(tostring(span), "A\0\0\255", "tostring shows the bytes")
-- Emilua's codes: ERANGE for an index or byte value out of range, EPERM for
-- a key that is not a number, EINVAL (arg 3) for a value that is not one.
tap.raises({name = "ERANGE", code = 34, message = "index 0 out of range %[1, 4%]"},
    "bs[0] raises ERANGE", function() return span[0] end)
tap.raises({name = "ERANGE", message = "out of range"}, "bs[#bs + 1] raises ERANGE",
    function() return span[5] end)
tap.raises({name = "ERANGE", message = "not an integer"}, "bs[1.5] raises ERANGE",
    function() return span[1.5] end)
tap.raises({name = "ERANGE", message = "out of range"}, "bs[#bs + 1] = 1 raises ERANGE",
    function() span[5] = 1 end)
tap.raises({name = "ERANGE", message = "out of range"}, "bs[1] = 256 raises ERANGE",
    function() span[1] = 256 end)
tap.raises({name = "ERANGE", message = "out of range"}, "bs[1] = -1 raises ERANGE",
    function() span[1] = -1 end)
tap.raises({name = "ERANGE"}, "bs[1] = 1.5 raises ERANGE rather than storing a byte",
    function() span[1] = 1.5 end)
tap.is(span[1], 65, "a failed store leaves the byte as it was")
tap.raises({name = "EINVAL", arg = 3, message = "integer expected"},
    "bs[1] = 'a' raises EINVAL for argument 3", function() span[1] = "a" end)
tap.raises({name = "EINVAL", arg = 3}, "a non-number value is EINVAL even at a bad index",
    function() span[9] = "a" end)
tap.raises({name = "EPERM", code = 1, message = "integer indexes, got string"},
    "bs.x = 1 raises EPERM", function() span.x = 1 end)
tap.raises({name = "EPERM"}, "bs[true] = 1 raises EPERM", function() span[true] = 1 end)
tap.raises({name = "bad_index", index = 2, message = "byte_span has no field 'nothing'"},
    "an unknown field raises bad_index", function() return span.nothing end)

-- slice
local text = byte_span.append(nil, "hello world")
tap.is(tostring(text:slice(1, 5)), "hello", "slice(i, j) is bytes i..j")
tap.is(tostring(text:slice(7)), "world", "slice(i) runs to the end")
tap.is(tostring(text:slice()), "hello world", "slice() is the whole span")
tap.is(#text:slice(3, 2), 0, "slice(i, i - 1) is empty")
local view = text:slice(1, 5)
view[1] = string.byte("J")
tap.is(tostring(text), "Jello world", "slices share memory")
local window = roomy:slice(1, 10)
tap.is(#window, 10, "a slice may reach into the capacity")
tap.is(window.capacity, 10, "the slice keeps the capacity")
tap.is(roomy:slice(3).capacity, 8, "a slice's capacity counts from its start")
-- Emilua's byte_span7..14 tests.
do
    local bs = byte_span.new(1, 5)
    local bs2 = bs:slice(2)
    tap.ok(#bs2 == 0 and bs2.capacity == 4,
        "slice(2) of a 1-byte span of capacity 5 is empty with capacity 4")
    bs2 = bs2:slice(1, 4)
    tap.ok(#bs2 == 4 and bs2.capacity == 4, "a slice of a slice reaches into the capacity")
    bs2 = bs:slice(1, 5)
    bs2[2] = 22
    tap.ok(bs == bs2:slice(1, 1), "bytes written past the length show in a wider slice only")
    tap.ok(bs:slice(2) == bs2:slice(2, 1), "empty slices are equal")
    local empty = byte_span.new(1, 2):slice(1, 2):slice(3)
    tap.ok(#empty == 0 and empty.capacity == 0, "a slice at the end of the capacity has capacity 0")
end
tap.raises({name = "ERANGE", code = 34}, "slice(3) past the length of new(1, 3) raises ERANGE",
    function() return byte_span.new(1, 3):slice(3) end)
tap.raises({name = "ERANGE"}, "slice(0) raises ERANGE", text.slice, text, 0)
tap.raises({name = "ERANGE"}, "slice(-1) raises ERANGE", text.slice, text, -1)
tap.raises({name = "ERANGE"}, "slice past the capacity raises ERANGE", text.slice, text, 1, 100)
tap.raises({name = "ERANGE"}, "slice(5, 3) raises ERANGE", text.slice, text, 5, 3)
tap.raises({name = "ERANGE"}, "slice(1.5) raises ERANGE", text.slice, text, 1.5)
tap.raises({name = "EINVAL", message = "got string"}, "slice('1') raises EINVAL", text.slice,
    text, "1")

-- append
local grown = byte_span.append(nil, "ab", byte_span.append(nil, "cd"))
tap.is(tostring(grown), "abcd", "byte_span.append(nil, ...) joins strings and spans")
tap.is(tostring(byte_span.append("ab", "cd")), "abcd",
    "byte_span.append(str, ...) joins a string and what follows it")
tap.is(tostring(byte_span.append("ab", nil, "cd", nil)), "abcd",
    "byte_span.append takes nil pieces as empty")
tap.is(grown.capacity, 4, "byte_span.append's result has capacity its length")
tap.is(#byte_span.append(), 0, "byte_span.append() is an empty span")
do
    local roomy_base = byte_span.new(1, 8)
    local joined = byte_span.append(roomy_base, "x")
    joined[1] = 5
    tap.is(roomy_base[1], 0, "byte_span.append(span, ...) never writes into the span's memory")
    tap.is(joined.capacity, 2, "byte_span.append's result has capacity its length")
end
tap.is(tostring(byte_span.append(nil, "ab"):append(nil, "c", nil)), "abc",
    "span:append takes nil pieces as empty")
tap.ok(rawequal(grown:append(), grown), "span:append() with no pieces is the span itself")
tap.raises({name = "EINVAL", arg = 2}, "byte_span.append(str, 1) raises for argument 2",
    byte_span.append, "a", 1)
local base = byte_span.new(2, 8)
base[1], base[2] = 1, 2
local appended = base:append("\3")
tap.is(#appended, 3, "append within the capacity lengthens")
tap.is(appended.capacity, 8, "append within the capacity keeps the capacity")
appended[1] = 9
tap.is(base[1], 9, "append within the capacity shares memory with the base, as in Go")
local full = byte_span.new(2)
local moved = full:append("xyz")
moved[1] = 7
tap.is(full[1], 0, "append past the capacity moves to new memory")
tap.is(moved.capacity, 5, "the moved result's capacity is its length, as in Emilua")
tap.is(tostring(moved:slice(3)), "xyz", "the moved result keeps the appended bytes")
local self_append = byte_span.append(nil, "ab")
tap.is(tostring(self_append:append(self_append)), "abab",
    "a span appended to itself doubles its bytes")
tap.raises({name = "EINVAL", message = "string, byte_span or nil expected, got number"},
    "append(1) raises", base.append, base, 1)
tap.raises({name = "EINVAL", arg = 2}, "append({}) raises", base.append, base, {})

-- copy
local target = byte_span.new(3)
tap.is(target:copy("abcdef"), 3, "copy returns what fit")
tap.is(tostring(target), "abc", "copy copies")
tap.is(target:copy(byte_span.append(nil, "Z")), 1, "copy from a shorter span")
tap.is(tostring(target), "Zbc", "copies only its length")
local overlap = byte_span.append(nil, "12345")
overlap:slice(2):copy(overlap)
tap.is(tostring(overlap), "11234", "overlapping copies work")
tap.raises({name = "EINVAL"}, "copy(nil) raises", target.copy, target, nil)

-- equality and the rest
tap.ok(byte_span.append(nil, "same") == byte_span.append(nil, "same"), "== compares bytes")
tap.ok(byte_span.append(nil, "same") ~= byte_span.append(nil, "diff"),
    "~= tells different bytes apart")
tap.ok(byte_span.new(0) == byte_span.new(0, 4), "empty spans are equal")
tap.ok(byte_span.new(1) ~= "\0", "a span is not a string")
tap.is(#byte_span.new(0):append(), 0, "append() of nothing gives an empty span")
tap.raises({name = "EINVAL", message = "call methods with ':'"},
    "span.slice() explains that methods are called with ':'",
    function() return text.slice() end)

-- Emilua's byte_span16: append within and past the capacity.
do
    local bs = byte_span.new(1, 3)
    bs:slice(1, 3):copy("foo")
    tap.is(tostring(bs), "f", "copy into a wider slice leaves the length")
    tap.is(tostring(bs:append("bar")), "fbar",
        "append past the capacity gives the joined bytes (Emilua's byte_span16)")
    tap.is(tostring(bs:slice(1, 3)), "foo", "append past the capacity left the memory alone")
    tap.is(tostring(bs:append("ba")), "fba", "append within the capacity gives the joined bytes")
    tap.is(tostring(bs:slice(1, 3)), "fba", "append within the capacity wrote in place")
    bs = bs:append("oo")
    tap.is(tostring(bs:append(" ", bs, " ", bs)), "foo foo foo",
        "a span appended to itself twice repeats its bytes")
    tap.is(tostring(byte_span.append(nil, bs)), "foo", "byte_span.append(nil, span) copies it")
end

-- The string algorithms: positions are 1-based, nil when nothing is found.
do
    local bs = byte_span.append(" long long int;")
    tap.is(bs:find("long"), 2, "find gives the 1-based position (Emilua's byte_span17)")
    tap.is(bs:find("long", 3), 7, "find from a start position")
    tap.is(bs:find("long", 6), 7, "find from a start position on the match's first byte - 1")
    tap.is(bs:find(" "), 1, "find at the first byte")
    tap.is(bs:find("o", 2), 3, "find a single byte")
    tap.is(bs:find("on"), 3, "find a prefix of a later word")
    tap.is(bs:find("short"), nil, "find gives nil when there is no match")
    tap.is(bs:find("long", 8), nil, "find gives nil past the last match")
    tap.is(bs:find(byte_span.append("int")), 12, "find takes a byte_span pattern")
    tap.is(bs:find(nil), 1, "find(nil) finds the empty pattern at the start")
    tap.is(bs:find("", 5), 5, "the empty pattern is found at the start position")
    tap.is(bs:find("", #bs + 1), nil, "find one past the end gives nil")
    tap.raises({name = "ERANGE", code = 34}, "find from position 0 raises ERANGE",
        bs.find, bs, "x", 0)
    tap.raises({name = "ERANGE"}, "find from two past the end raises ERANGE",
        bs.find, bs, "x", #bs + 2)
    tap.raises({name = "ERANGE"}, "find from 1.5 raises ERANGE", bs.find, bs, "x", 1.5)
    tap.raises({name = "EINVAL", arg = 2}, "find with a number pattern raises EINVAL",
        bs.find, bs, 1)
    tap.raises({name = "EINVAL", arg = 3}, "find with a string position raises EINVAL",
        bs.find, bs, "x", "1")
    tap.is(byte_span.new(0):find("x"), nil, "find in an empty span gives nil")
    tap.is(byte_span.append("a\0b"):find("\0"), 2, "find matches NUL bytes")

    tap.is(bs:rfind("long"), 7, "rfind gives the last match")
    tap.is(bs:rfind("long", 6), 2, "rfind up to a position finds matches starting there or before")
    tap.is(bs:rfind("long", 7), 7, "rfind's position may be the match's first byte")
    tap.is(bs:rfind("int", 11), nil, "rfind gives nil when no match starts early enough")
    tap.is(bs:rfind("x", 0), nil, "rfind up to position 0 gives nil")
    tap.is(bs:rfind(nil), #bs, "rfind(nil) finds the empty pattern at the last position")
    tap.raises({name = "ERANGE"}, "rfind up to past the end raises ERANGE",
        bs.rfind, bs, "x", #bs + 1)
    tap.raises({name = "ERANGE"}, "rfind up to -1 raises ERANGE", bs.rfind, bs, "x", -1)

    local letters = byte_span.append("BCDEF")
    tap.is(letters:find_first_not_of("ABC"), 3,
        "find_first_not_of finds the first byte outside the set (Emilua's byte_span18)")
    tap.is(letters:find_first_not_of("ABC", 5), 5, "find_first_not_of searches from a position")
    tap.is(letters:find_first_not_of("B"), 2, "find_first_not_of takes a one-byte set")
    tap.is(letters:find_first_not_of("D", 3), 4,
        "find_first_not_of skips an excluded byte at the position")
    tap.is(letters:find_first_not_of("BCDEF"), nil, "find_first_not_of gives nil when all match")
    tap.is(letters:find_first_not_of(nil), 1, "find_first_not_of(nil) is the start")
    tap.is(byte_span.append("BCDEF"):find_last_not_of("DEF"), 2,
        "find_last_not_of finds the last byte outside the set (Emilua's byte_span19)")
    tap.is(byte_span.append("BCDEFG"):find_last_not_of("EFG", 4), 3,
        "find_last_not_of searches up to a position")
    tap.is(byte_span.append("ABBA"):find_last_not_of("A"), 3, "find_last_not_of skips the end")
    tap.is(byte_span.append("ABBA"):find_last_not_of("A", 2), 2,
        "find_last_not_of searches up to a position that matches")
    tap.is(byte_span.append("AAA"):find_last_not_of("A"), nil,
        "find_last_not_of gives nil when all match")
    tap.raises({name = "ERANGE"}, "find_first_not_of from 0 raises ERANGE",
        letters.find_first_not_of, letters, "A", 0)
    tap.raises({name = "ERANGE"}, "find_last_not_of past the end raises ERANGE",
        letters.find_last_not_of, letters, "A", 6)

    local line = byte_span.append("key=value; other")
    tap.is(line:find_first_of("=;"), 4, "find_first_of gives the first byte of the set")
    tap.is(line:find_first_of("=;", 5), 10, "find_first_of searches from a position")
    tap.is(line:find_first_of("#"), nil, "find_first_of gives nil when none is there")
    tap.is(line:find_first_of(nil), nil, "find_first_of(nil): the empty set matches nothing")
    tap.is(line:find_last_of("=;"), 10, "find_last_of gives the last byte of the set")
    tap.is(line:find_last_of("=;", 9), 4, "find_last_of searches up to a position")
    tap.is(line:find_last_of("#"), nil, "find_last_of gives nil when none is there")
    tap.raises({name = "ERANGE"}, "find_first_of from past the end + 1 raises ERANGE",
        line.find_first_of, line, "=", #line + 2)
    tap.raises({name = "ERANGE"}, "find_last_of up to -1 raises ERANGE",
        line.find_last_of, line, "=", -1)

    tap.is(line:starts_with("key"), true, "starts_with is true of a prefix")
    tap.is(line:starts_with("value"), false, "starts_with is false of something else")
    tap.is(line:starts_with(""), true, "starts_with the empty string")
    tap.is(line:starts_with(byte_span.append("key=")), true, "starts_with takes a byte_span")
    tap.is(line:ends_with("other"), true, "ends_with is true of a suffix")
    tap.is(line:ends_with("key"), false, "ends_with is false of something else")
    tap.is(byte_span.new(0):ends_with("x"), false, "an empty span ends with nothing but ''")
    tap.raises({name = "EINVAL", arg = 2}, "starts_with(nil) raises EINVAL",
        line.starts_with, line, nil)
    tap.raises({name = "EINVAL", arg = 2}, "ends_with(42) raises EINVAL",
        line.ends_with, line, 42)

    local padded = byte_span.append(" \t\r\n value \f\v ")
    local trimmed = padded:trimmed()
    tap.is(tostring(trimmed), "value", "trimmed drops ASCII whitespace at both ends")
    tap.is(trimmed.capacity, padded.capacity - 5, "trimmed's capacity counts from its start")
    trimmed[1] = string.byte("V")
    tap.is(tostring(padded), " \t\r\n Value \f\v ", "trimmed shares memory")
    tap.is(tostring(byte_span.append("--x-y--"):trimmed("-")), "x-y",
        "trimmed(chars) trims the given bytes")
    tap.is(tostring(byte_span.append("abxba"):trimmed(byte_span.append("ab"))), "x",
        "trimmed takes a byte_span set")
    local blank = byte_span.append("   "):trimmed()
    tap.ok(#blank == 0 and blank.capacity == 0, "trimming everything gives an empty span")
    tap.is(tostring(byte_span.append("x"):trimmed()), "x",
        "trimmed with nothing to trim gives the same bytes")
    tap.raises({name = "EINVAL", arg = 2}, "trimmed(1) raises EINVAL", padded.trimmed, padded, 1)
end

-- Nothing taken from Lua is kept across an allocation: a finalizer that
-- runs in one and drops every other reference leaves appends and views
-- correct.
do
    local survivors = 0
    for round = 1, 200 do
        local base = byte_span.new(3, 64)
        base:copy("abc")
        setmetatable({}, {__gc = function()
            collectgarbage("step")
        end})
        local piece = byte_span.append("xyz")
        local joined = base:append(piece, nil, "!")
        local view = base:slice(2):trimmed("b")
        if tostring(joined) == "abcxyz!" and tostring(view) == "c" then
            survivors = survivors + 1
        end
    end
    tap.is(survivors, 200, "appends and views stay right while finalizers run a collection")
end

ud.run()
tap.done()
