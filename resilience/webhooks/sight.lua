-- Record a delivery key with its body digest, unless it is recorded.
-- KEYS[1]: the key; ARGV[1]: the body's digest; ARGV[2]: TTL in milliseconds.
-- Returns 0 (first sighting, recorded), 1 (seen with this digest), 2 (seen with another).
local known = redis.call('GET', KEYS[1])
if not known then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 0
end
if known == ARGV[1] then
  return 1
end
return 2
