-- receive_many and send_many: many datagrams per call, the lengths in a table
-- the caller reuses, waiting like receive and send, and their errors.
local tap = require "tap"
local ud = require "unixdgram"
local unix, byte_span, spawn, sleep = ud.unix, ud.byte_span, ud.spawn, ud.sleep
local datagram_socket = unix.datagram_socket
local flag = unix.message_flag

local function spans(count, size)
    local list = {}
    for i = 1, count do
        list[i] = byte_span.new(size)
    end
    return list
end

-- send_many, then receive_many of everything queued
local a, b = datagram_socket.pair()
tap.is(a:send_many({"one", byte_span.append(byte_span.new(0), "two"), "three"}), 3,
    "send_many returns the number of datagrams sent")
local into = spans(4, 16)
local lengths = {}
local count, flags = b:receive_many(into, lengths)
tap.is(count, 3, "receive_many takes every queued datagram")
tap.is(flags, 0, "receive_many reports no truncation")
tap.ok(lengths[1] == 3 and lengths[2] == 3 and lengths[3] == 5, "the lengths are filled in",
    table.concat(lengths, ","))
tap.is(tostring(into[2]:slice(1, lengths[2])), "two", "each span holds its datagram")
tap.is(tostring(into[3]:slice(1, lengths[3])), "three",
    "the datagrams fill the spans in the order they were sent")

-- the lengths table is reused: entries beyond the count are left alone
lengths[4] = "untouched"
a:send("x")
count = b:receive_many(into, lengths)
tap.is(count, 1, "receive_many returns what is queued, not the table's length")
tap.is(lengths[1], 1, "the first length is overwritten")
tap.is(lengths[4], "untouched", "lengths beyond the count are left alone")

-- fewer spans than datagrams queued
a:send_many({"1", "2", "3"})
count = b:receive_many({byte_span.new(4), byte_span.new(4)}, lengths)
tap.is(count, 2, "receive_many stops at the number of spans")
count = b:receive_many(into, lengths)
tap.is(count, 1, "the datagrams beyond the spans wait for the next call")

-- truncation is reported, not raised
a:send("longer than four")
count, flags = b:receive_many({byte_span.new(4)}, lengths)
tap.is(count, 1, "a truncated datagram still counts")
tap.is(lengths[1], 4, "its length is what fitted")
tap.ok(flags & flag.truncated ~= 0, "the flags say the datagram was truncated")

-- peek is refused: recvmmsg would fill every span with the same datagram
a:send("peeked")
tap.raises({name = "EINVAL", arg = 4}, "receive_many refuses peek",
    b.receive_many, b, into, lengths, flag.peek)
count = b:receive_many(into, lengths)
tap.ok(count == 1 and lengths[1] == 6, "the refused peek leaves the datagram queued")

-- a batch has no room for descriptors: the kernel closes them, the flags say so
local fds_before = tap.fd_count()
do
    local lua_file <close> = io.open("/dev/null")
    local file <close> = ud.file_descriptor.from_file(lua_file)
    a:send_with_fds("carrier", {file})
end
a:send("plain")
count, flags = b:receive_many(into, lengths)
tap.is(count, 2, "a datagram with descriptors arrives in a batch")
tap.is(tostring(into[1]:slice(1, lengths[1])), "carrier",
    "the datagram with descriptors brings its bytes")
tap.ok(flags & flag.control_truncated ~= 0, "the flags report the descriptors dropped")
tap.is(tap.fd_count(), fds_before, "no descriptor is left open")

-- a send_many that fails part-way says how many datagrams went before
local err = tap.raises({name = "EMSGSIZE", sent = 1},
    "send_many failing at its second datagram raises with the count sent",
    a.send_many, a, {"first", string.rep("x", 1 << 20)})
count = b:receive_many(into, lengths)
tap.ok(count == 1 and tostring(into[1]:slice(1, lengths[1])) == "first",
    "the first datagram was delivered")

-- waiting: a fiber blocks in receive_many until a datagram arrives
local receiver = spawn(function()
    local got = {}
    local n = b:receive_many(into, got)
    return n, tostring(into[1]:slice(1, got[1]))
end)
sleep(0.01)
a:send_many({"late", "later"})
local n, first = receiver:join()
tap.ok(n >= 1, "receive_many waits for a datagram", n)
tap.is(first, "late", "the waiting receive_many returns the datagram")
if n == 1 then
    b:receive(into[1])
end

-- waiting, with the table emptied by another fiber meanwhile: the spans stay
-- alive (the call holds them), and the datagram lands in them
local held = spans(2, 8)
local first_span = held[1]
local emptied = spawn(function()
    local got = {}
    return b:receive_many(held, got), got[1]
end)
sleep(0.01)
held[1], held[2] = nil, nil
collectgarbage()
a:send("kept")
n = emptied:join()
tap.is(n, 1, "a waiting receive_many survives its table being emptied")
tap.is(tostring(first_span:slice(1, 4)), "kept",
    "the waiting receive_many fills the spans it was given")

-- send_many waits for room when the peer's queue is full
local s, r = datagram_socket.pair()
s:set_option("send_buffer_size", 4096)
local big = string.rep("x", 1024)
local batch = {}
for i = 1, 64 do
    batch[i] = big
end
local sender = spawn(function()
    return s:send_many(batch)
end)
sleep(0.01)
local drained = 0
local buffers = spans(64, 1024)
while drained < 64 do
    drained = drained + r:receive_many(buffers, lengths)
end
tap.is(sender:join(), 64, "send_many waits for room and sends every datagram")
tap.is(drained, 64, "every datagram arrives")

-- cancellation and interruption
local function waiting_receive_many()
    return spawn(function()
        return pcall(b.receive_many, b, into, lengths)
    end)
end
local waiting = waiting_receive_many()
sleep(0.01)
b:cancel()
local ok, err = waiting:join()
tap.ok(not ok and err.name == "ECANCELED", "cancel() ends a pending receive_many", err)
waiting = waiting_receive_many()
sleep(0.01)
waiting:interrupt()
ok, err = waiting:join()
tap.ok(not ok and err.name == "interrupted", "interrupt() ends a pending receive_many", err)
a:send("still usable")
tap.is(b:receive_many(into, lengths), 1, "the socket works afterwards")

-- argument errors
tap.raises({name = "EINVAL", arg = 2}, "receive_many without a table raises",
    b.receive_many, b, byte_span.new(4), lengths)
tap.raises({name = "EINVAL", arg = 2, message = "empty batch"},
    "receive_many with an empty table raises", b.receive_many, b, {}, lengths)
tap.raises({name = "EINVAL", arg = 2, message = "byte_span expected at index 2, got string"},
    "receive_many with a string entry raises", b.receive_many, b, {byte_span.new(4), "no"},
    lengths)
tap.raises({name = "EINVAL", arg = 3}, "receive_many without a lengths table raises",
    b.receive_many, b, into)
tap.raises({name = "EINVAL", arg = 4}, "receive_many with a send-only flag raises",
    b.receive_many, b, into, lengths, flag.truncated)
local too_many = {}
for i = 1, 1025 do
    too_many[i] = into[1]
end
tap.raises({name = "EINVAL", arg = 2, message = "at most 1024"},
    "receive_many with too many spans raises", b.receive_many, b, too_many, lengths)
tap.raises({name = "EINVAL", arg = 2}, "send_many without a table raises", a.send_many, a, "x")
tap.raises({name = "EINVAL", arg = 2, message = "empty batch"},
    "send_many with an empty table raises", a.send_many, a, {})
tap.raises({name = "EINVAL", arg = 2, message = "byte_span or string expected at index 1, got number"},
    "send_many refuses numbers", a.send_many, a, {42})
tap.raises({name = "EINVAL", arg = 2, message = "at most 1024"},
    "send_many with too many datagrams raises", a.send_many, a, too_many)
a:close()
tap.raises({name = "EBADF"}, "send_many on a closed socket raises EBADF", a.send_many, a, {"x"})
b:close()
tap.raises({name = "EBADF"}, "receive_many on a closed socket raises EBADF", b.receive_many, b,
    into, lengths)

ud.run()
tap.done()
