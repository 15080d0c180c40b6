-- Reads KEYS with their remaining life, in one atomic step, and answers one item per key:
--   false          the key is missing or expired
--   {value, pttl}  its value, and PTTL (milliseconds left; -1: no expiry)
-- ARGV[1] == '1' (one key, get_with_expiry): a key of another Redis type is the WRONGTYPE
-- error, as for GET. Otherwise (a batch) it reads as missing, as for MGET.
local strict = ARGV[1] == '1'
local out = {}
for i, key in ipairs(KEYS) do
  local value
  if strict then
    value = redis.call('GET', key)
  else
    value = redis.pcall('GET', key)
    if type(value) == 'table' then
      value = false
    end
  end
  if value then
    out[i] = {value, redis.call('PTTL', key)}
  else
    out[i] = false
  end
end
return out
