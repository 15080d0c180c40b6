-- Adds ARGV[1] to the integer stored at KEYS[1], keeping the key's TTL, and answers
-- the new value as an integer reply when it is within 2^53 of zero (the common case), or
-- {status, detail}:
--   {0, new value}  done, the value as text (past 2^53, where Lua numbers are inexact)
--   {1, ''}         the key is missing or expired (it is not created)
--   {2, ''}         the value is not an ASCII decimal integer
--   {3, ''}         the value, or the result, is past the range of a signed 64-bit integer
--   {4, type}       the key holds another Redis type (a list, a hash, ...)
-- The checks are those of the memory backend (cache_api::codec::is_stored_integer):
-- `-?[0-9]{1,20}`, leading zeros allowed; values in u64 but past i64 overflow.
-- The value is never changed when an error is answered. The common case (a canonical
-- integer) costs EXISTS and INCRBY; the full checks run only when INCRBY refuses the value.
--
-- A refusal of the write itself (OOM: maxmemory reached under noeviction; READONLY: a
-- replica; MISCONF, ...) is answered as that error reply, unchanged, never as a status:
-- its error code is not ERR (nor WRONGTYPE), which INCRBY uses for the value's own faults.
local key = KEYS[1]

-- Fast path: an existing key holding a canonical integer (what the codec writes). INCRBY
-- refuses anything else without changing it, and then the full checks below classify it.
-- Nothing else runs on this path (no closure, no table): it is the script's cost per call.
if redis.call('EXISTS', key) == 0 then
  return {1, ''}
end
local fast = redis.pcall('INCRBY', key, ARGV[1])
if type(fast) == 'number' then
  -- Lua numbers are doubles: past 2^53 read the exact text back.
  if fast < 9007199254740992 and fast > -9007199254740992 then
    return fast
  end
  return {0, redis.call('GET', key)}
end

-- Slow path.
-- Whether a pcall error is about the value (ERR ..., WRONGTYPE ...), not a refusal.
local function about_the_value(reply)
  local code = string.match(reply.err, '^(%S+)')
  return code == 'ERR' or code == 'WRONGTYPE'
end

if not about_the_value(fast) then
  return fast
end

local kind = redis.call('TYPE', key)['ok']
if kind == 'none' then
  return {1, ''}
end
if kind ~= 'string' then
  return {4, kind}
end

local value = redis.call('GET', key)
local negative = string.sub(value, 1, 1) == '-'
local digits = value
if negative then
  digits = string.sub(value, 2)
end
if #digits == 0 or #digits > 20 or string.find(digits, '%D') then
  return {2, ''}
end

-- Whether the digit string s is at most limit, compared byte by byte (not by locale).
local function at_most(s, limit)
  if #s ~= #limit then
    return #s < #limit
  end
  for i = 1, #s do
    local a, b = string.byte(s, i), string.byte(limit, i)
    if a ~= b then
      return a < b
    end
  end
  return true
end

local canonical = string.gsub(digits, '^0+', '')
if canonical == '' then
  canonical = '0'
  negative = false
end
local limit = '9223372036854775807'
if negative then
  limit = '9223372036854775808'
end
if not at_most(canonical, limit) then
  if not negative and at_most(canonical, '18446744073709551615') then
    return {3, ''}
  end
  return {2, ''}
end
if negative then
  canonical = '-' .. canonical
end

-- INCRBY refuses leading zeros and "-0": store the canonical form first, restore on failure.
if canonical ~= value then
  redis.call('SET', key, canonical, 'KEEPTTL')
end
local result = redis.pcall('INCRBY', key, ARGV[1])
if type(result) == 'table' and result.err then
  if canonical ~= value then
    redis.call('SET', key, value, 'KEEPTTL')
  end
  -- The value was checked above: an ERR now can only be the result's overflow.
  if about_the_value(result) then
    return {3, ''}
  end
  return result
end
-- Read the result back as text: Lua numbers are doubles and would round past 2^53.
return {0, redis.call('GET', key)}
