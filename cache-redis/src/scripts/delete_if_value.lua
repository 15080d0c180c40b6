-- Compare-and-delete: deletes KEYS[1] only if it holds exactly ARGV[1].
-- Returns 1 when deleted, 0 otherwise (missing key, other value, other Redis type).
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then
  return 0
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
