"""The Lua scripts behind the shared (Redis) quota; each runs atomically on the server.

State of one quota, under eight keys sharing a hash tag (so Redis Cluster keeps
them in one slot; `quota_keys` builds them), all times in seconds of the Redis
server's clock (``TIME``):

* ``lease``  ZSET request id -> lease expiry: requests holding a concurrency slot;
* ``pend``   ZSET request id -> lease expiry: requests not answered yet, which
  count in every window (the server may receive them at any moment);
* ``done``   ZSET request id -> answer time: answered requests, counted in the
  window until ``period`` seconds after their answer;
* ``tok``    HASH request id -> tokens charged (the estimate, then the usage);
* ``meta``   HASH ``charged`` (tokens in the window), ``blocked`` (no admission
  before this time: a 429 was seen), ``epoch`` (changes when Redis lost the state);
* ``queue``  ZSET waiter -> time it started waiting (first come, first served);
* ``qexp``   ZSET waiter -> when its place lapses unless it asks again;
* ``qtok``   HASH waiter -> the tokens it waits for (those queued ahead of a
  waiter must fit before it: first come, first served for tokens too).

A lease that was not renewed in time belongs to a process that died: the slot
is freed and, if the request was unanswered, it counts as answered at the
lease's expiry (the latest moment the server can have received it).
"""

from __future__ import annotations

from collections.abc import Iterable

KEY_SUFFIXES = ("lease", "pend", "done", "tok", "meta", "queue", "qexp", "qtok")
"""The keys of one quota, in the scripts' ``KEYS`` order (new keys go at the end)."""


def quota_keys(prefix: str, key: Iterable[object]) -> list[str]:
    """The Redis keys of quota ``key`` under ``prefix``, in `KEY_SUFFIXES` order.

    Every key starts with the same ``{...}`` hash tag (whatever ``prefix`` and
    ``key`` hold, the first braces Redis finds are in the shared part), so all
    of them live in one Redis Cluster slot and one script call may use them all.
    """
    name = "/".join(str(part) for part in key)
    base = f"{prefix}quota:{{{name}}}"
    return [f"{base}:{suffix}" for suffix in KEY_SUFFIXES]


def update_ops(batch: list[tuple[str, str, str, str, float]], now: float) -> list[str]:
    """`UPDATE`'s arguments for queued (op, id, a, b, posted) updates.

    An answer or release carries how long ago it was posted (a duration on the
    caller's clock, so clocks need not agree).
    """
    args = []
    for op, ident, a, b, posted in batch:
        if op in ("c", "r"):
            a = f"{max(0.0, now - posted):.6f}"
        args += [op, ident, a, b]
    return args


_PRELUDE = """
-- TIME before writes needs effects replication (the default from Redis 5 on).
if redis.replicate_commands then redis.replicate_commands() end
local lease, pend, done, tok, meta, queue, qexp, qtok =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local period = tonumber(ARGV[1])
local keep_ms = tonumber(ARGV[2])
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', meta, 'epoch', epoch, 'charged', 0)
end

-- Lua numbers are doubles: pass whole numbers as integer strings ('-0' is refused).
local function charge(tokens)
  if tokens ~= 0 then
    redis.call('HINCRBY', meta, 'charged', string.format('%d', tokens))
  end
end

local function forget_tokens(id)
  local spent = tonumber(redis.call('HGET', tok, id))
  if spent then
    charge(0 - spent)
    redis.call('HDEL', tok, id)
  end
end

local function answer(id, at)
  if redis.call('ZREM', pend, id) == 1 then
    redis.call('ZADD', done, at, id)
  end
end

-- Leases not renewed in time, answered requests out of the window, lapsed waiters.
local gone = redis.call('ZRANGEBYSCORE', lease, '-inf', now, 'WITHSCORES')
for i = 1, #gone, 2 do
  redis.call('ZREM', lease, gone[i])
  answer(gone[i], tonumber(gone[i + 1]))
end
local lost = redis.call('ZRANGEBYSCORE', pend, '-inf', now, 'WITHSCORES')
for i = 1, #lost, 2 do
  answer(lost[i], tonumber(lost[i + 1]))
end
local old = redis.call('ZRANGEBYSCORE', done, '-inf', now - period)
for _, id in ipairs(old) do
  forget_tokens(id)
end
if #old > 0 then
  redis.call('ZREMRANGEBYSCORE', done, '-inf', now - period)
end
local function leave_queue(waiter)
  redis.call('ZREM', queue, waiter)
  redis.call('ZREM', qexp, waiter)
  redis.call('HDEL', qtok, waiter)
end
local lapsed = redis.call('ZRANGEBYSCORE', qexp, '-inf', now)
for _, waiter in ipairs(lapsed) do
  leave_queue(waiter)
end

local function keep()
  for _, key in ipairs(KEYS) do
    redis.call('PEXPIRE', key, keep_ms)
  end
end

local function status()
  local blocked = tonumber(redis.call('HGET', meta, 'blocked')) or 0
  return {
    redis.call('ZCARD', pend) + redis.call('ZCARD', done),
    redis.call('ZCARD', lease),
    tonumber(redis.call('HGET', meta, 'charged')) or 0,
    math.max(0, math.ceil((blocked - now) * 1000)),
    epoch,
  }
end
"""

ACQUIRE = (
    _PRELUDE
    + """
-- ARGV: period, keep_ms, epoch_candidate, known_epoch, waiter, place_ttl, id,
--       tokens, rpm, tpm, max_concurrency, lease_ttl, longest_sleep
-- Returns {verdict, delay_ms, requests, in_flight, tokens, blocked_ms, epoch}:
-- verdict 1 admitted; 0 wait delay_ms (-1: until a request in flight is answered),
-- asking again sooner if room may come earlier; 2 no room comes before delay_ms
-- (requests leave the window on a known schedule, one still in flight a period
-- after its answer at the earliest, and a 429's pause ends on time), unless a
-- waiter ahead gives up: sleep that long (the place in the queue is kept);
-- -1 the state is not the one the caller knew (re-seed, then ask again).
local known, waiter, place_ttl, id = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local tokens, rpm, tpm = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local max_concurrency, lease_ttl = tonumber(ARGV[11]), tonumber(ARGV[12])
local longest_sleep = tonumber(ARGV[13]) or 0
keep()
local function reply(verdict, delay_ms)
  local s = status()
  return {verdict, delay_ms, s[1], s[2], s[3], s[4], s[5]}
end
if known ~= epoch then
  return reply(-1, 0)
end
-- Asked again after an answer that was lost (a failover, a timeout): admitted once.
if redis.call('HEXISTS', tok, id) == 1 then
  leave_queue(waiter)
  return reply(1, 0)
end

redis.call('ZADD', queue, 'NX', now, waiter)
redis.call('ZADD', qexp, now + place_ttl, waiter)
redis.call('HSET', qtok, waiter, tokens)
local ahead = redis.call('ZRANK', queue, waiter)
-- Tokens of the waiters queued ahead must fit first, like their requests.
local queued_tokens = 0
if ahead > 0 then
  local before = redis.call('HMGET', qtok, unpack(redis.call('ZRANGE', queue, 0, ahead - 1)))
  for _, n in ipairs(before) do
    queued_tokens = queued_tokens + (tonumber(n) or 0)
  end
end

local delay = 0
local no_sooner = true  -- false if an answer or a usage report may bring room sooner
local until_answer = false
local blocked = tonumber(redis.call('HGET', meta, 'blocked')) or 0
if blocked > now then delay = blocked - now end

local answered = redis.call('ZCARD', done)
local must_leave = redis.call('ZCARD', pend) + answered + ahead - rpm + 1
-- A request still in flight, once answered (now at the earliest), counts for a
-- whole period: waiting for one to leave the window means waiting at least that.
if must_leave > 0 then
  if must_leave > answered then
    delay = math.max(delay, period)
  else
    local leaving = redis.call('ZRANGE', done, must_leave - 1, must_leave - 1, 'WITHSCORES')
    delay = math.max(delay, tonumber(leaving[2]) + period - now)
  end
end
if redis.call('ZCARD', lease) + ahead >= max_concurrency then
  until_answer = true
end
local charged = tonumber(redis.call('HGET', meta, 'charged')) or 0
local excess = charged + queued_tokens + tokens - tpm
if excess > 0 then
  no_sooner = false  -- a request in flight may report less than its estimate
  local fits = false
  local entries = redis.call('ZRANGE', done, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    excess = excess - (tonumber(redis.call('HGET', tok, entries[i])) or 0)
    if excess <= 0 then
      delay = math.max(delay, tonumber(entries[i + 1]) + period - now)
      fits = true
      break
    end
  end
  if not fits then delay = math.max(delay, period) end
end

-- A known wait comes first: room by rate is needed anyway, and then a slot.
if delay > 0 then
  if no_sooner then
    -- The caller sleeps that long (at most longest_sleep) before it asks again.
    redis.call('ZADD', qexp, now + math.min(delay, longest_sleep) + place_ttl, waiter)
    return reply(2, math.ceil(delay * 1000))
  end
  return reply(0, math.ceil(delay * 1000))
end
if until_answer then return reply(0, -1) end

redis.call('ZADD', lease, now + lease_ttl, id)
redis.call('ZADD', pend, now + lease_ttl, id)
redis.call('HSET', tok, id, tokens)
charge(tokens)
leave_queue(waiter)
keep()
return reply(1, 0)
"""
)

UPDATE = (
    _PRELUDE
    + """
-- ARGV: period, keep_ms, epoch_candidate, then (op, id, a, b) quadruples:
--   c id age    the server answered request id age seconds ago (measured by the
--               caller on its own clock: a duration, so clocks need not agree)
--   r id age    released: answered (if not yet), and its concurrency slot is free
--   s id n      the request really used n tokens
--   h id ttl    renew the lease of request id for ttl seconds
--   w waiter    a waiter gave up its place in the queue
--   p - s       slow everyone down: no admission for s seconds
--   f id n ttl  seed: request id, in flight, n tokens, lease of ttl seconds
--   a id n age  seed: request id answered age seconds ago, n tokens
-- Returns {requests, in_flight, tokens, blocked_ms, epoch}.
for i = 4, #ARGV, 4 do
  local op, id, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if op == 'c' then
    answer(id, now - math.min(tonumber(a) or 0, period))
  elseif op == 'r' then
    answer(id, now - math.min(tonumber(a) or 0, period))
    redis.call('ZREM', lease, id)
  elseif op == 's' then
    local before = tonumber(redis.call('HGET', tok, id))
    if before then
      redis.call('HSET', tok, id, a)
      charge(tonumber(a) - before)
    end
  elseif op == 'h' then
    redis.call('ZADD', lease, 'XX', now + tonumber(a), id)
    redis.call('ZADD', pend, 'XX', now + tonumber(a), id)
  elseif op == 'w' then
    leave_queue(id)
  elseif op == 'p' then
    local blocked = tonumber(redis.call('HGET', meta, 'blocked')) or 0
    if now + tonumber(b) > blocked then
      redis.call('HSET', meta, 'blocked', tostring(now + tonumber(b)))
    end
  elseif (op == 'f' or op == 'a') and not redis.call('HGET', tok, id) then
    if op == 'f' then
      redis.call('ZADD', lease, now + tonumber(b), id)
      redis.call('ZADD', pend, now + tonumber(b), id)
    else
      redis.call('ZADD', done, now - tonumber(b), id)
    end
    redis.call('HSET', tok, id, a)
    charge(tonumber(a))
  end
end
keep()
return status()
"""
)

STATUS = """
-- Read-only: what the state holds now, as the other scripts would count it,
-- without changing it (``greycloud quota status``). Same keys.
-- ARGV: period. Returns {requests, in_flight, tokens, waiting, blocked_ms, waiting_tokens}.
local lease, pend, done, tok, meta, qexp, qtok =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7], KEYS[8]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local since = now - tonumber(ARGV[1])
-- An unanswered request whose lease lapsed counts as answered at its expiry.
local ids = redis.call('ZRANGEBYSCORE', pend, '(' .. since, '+inf')
local answered = redis.call('ZRANGEBYSCORE', done, '(' .. since, '+inf')
local tokens = 0
for _, list in ipairs({ids, answered}) do
  for _, id in ipairs(list) do
    tokens = tokens + (tonumber(redis.call('HGET', tok, id)) or 0)
  end
end
local blocked = tonumber(redis.call('HGET', meta, 'blocked')) or 0
local waiters = redis.call('ZRANGEBYSCORE', qexp, '(' .. now, '+inf')
local waiting_tokens = 0
for _, waiter in ipairs(waiters) do
  waiting_tokens = waiting_tokens + (tonumber(redis.call('HGET', qtok, waiter)) or 0)
end
return {
  #ids + #answered,
  redis.call('ZCOUNT', lease, '(' .. now, '+inf'),
  tokens,
  #waiters,
  math.max(0, math.ceil((blocked - now) * 1000)),
  waiting_tokens,
}
"""
