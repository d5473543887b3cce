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
tap.is(span[4], 255, "the last byte")
tap.is(tostring(span), "A\0\0\255", "tostring shows the bytes")
tap.raises({name = "EINVAL", message = "out of range"}, "bs[0] raises",
    function() return span[0] end)
tap.raises({name = "EINVAL", message = "out of range"}, "bs[#bs + 1] raises",
    function() return span[5] end)
tap.raises({name = "EINVAL"}, "bs[1.5] raises", function() return span[1.5] end)
tap.raises({name = "EINVAL", message = "out of range"}, "bs[5] = 1 raises",
    function() span[5] = 1 end)
tap.raises({name = "EINVAL", message = "out of range"}, "bs[1] = 256 raises",
    function() span[1] = 256 end)
tap.raises({name = "EINVAL", message = "out of range"}, "bs[1] = -1 raises",
    function() span[1] = -1 end)
tap.raises({name = "EINVAL", message = "integer expected"}, "bs[1] = 'a' raises",
    function() span[1] = "a" end)
tap.raises({name = "EINVAL", message = "integer indexes"}, "bs.x = 1 raises",
    function() span.x = 1 end)
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
tap.is(window.capacity, 10, "and keeps it")
tap.is(roomy:slice(3).capacity, 8, "a slice's capacity counts from its start")
tap.raises({name = "EINVAL"}, "slice(0) raises", text.slice, text, 0)
tap.raises({name = "EINVAL"}, "slice past the capacity raises", text.slice, text, 1, 100)
tap.raises({name = "EINVAL"}, "slice(5, 3) raises", text.slice, text, 5, 3)
tap.raises({name = "EINVAL", message = "got string"}, "slice('1') raises", text.slice, text,
    "1")

-- append
local grown = byte_span.append(nil, "ab", byte_span.append(nil, "cd"))
tap.is(tostring(grown), "abcd", "byte_span.append(nil, ...) joins strings and spans")
tap.is(tostring(byte_span.append("ab", "cd")), "abcd", "byte_span.append(str, ...)")
local base = byte_span.new(2, 8)
base[1], base[2] = 1, 2
local appended = base:append("\3")
tap.is(#appended, 3, "append within the capacity lengthens")
tap.is(appended.capacity, 8, "and keeps the capacity")
appended[1] = 9
tap.is(base[1], 9, "append within the capacity shares memory, as in Go")
local full = byte_span.new(2)
local moved = full:append("xyz")
moved[1] = 7
tap.is(full[1], 0, "append past the capacity moves to new memory")
tap.ok(moved.capacity >= 5, "with room for the result")
tap.is(tostring(moved:slice(3)), "xyz", "keeping the appended bytes")
local self_append = byte_span.append(nil, "ab")
tap.is(tostring(self_append:append(self_append)), "abab", "a span appended to itself")
tap.raises({name = "EINVAL", message = "string or byte_span expected, got number"},
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
tap.ok(byte_span.append(nil, "same") ~= byte_span.append(nil, "diff"), "~= too")
tap.ok(byte_span.new(0) == byte_span.new(0, 4), "empty spans are equal")
tap.ok(byte_span.new(1) ~= "\0", "a span is not a string")
tap.is(#byte_span.new(0):append(), 0, "append() of nothing")
tap.raises({name = "EINVAL", message = "call methods with ':'"}, "span.slice() explains ':'",
    function() return text.slice() end)

ud.run()
tap.done()
