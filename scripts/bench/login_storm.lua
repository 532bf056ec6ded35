-- wrk script for login_throughput.py: logins spread over the bench users.
-- Usage: wrk -s login_storm.lua URL -- USERS PASSWORD
-- At the end it prints, one per line as name=value: the run's length, the responses by kind
-- (2xx, 503, other) and the p50 and p99 latencies of the successful logins.
local users, password
local counter = 0
local threads = {}
statuses = {} -- global: done() collects each thread's counts with thread:get()

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  users = tonumber(args[1])
  password = args[2]
end

function request()
  counter = counter + 1
  local body = string.format('{"email":"user%d@bench.test","password":"%s"}', counter % users, password)
  return wrk.format("POST", "/auth/login", {["Content-Type"] = "application/json"}, body)
end

function response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency)
  local ok, busy, other = 0, 0, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      if status >= 200 and status < 300 then
        ok = ok + count
      elseif status == 503 then
        busy = busy + count
      else
        other = other + count
      end
    end
  end
  io.write(string.format("duration_us=%d\nok=%d\nbusy=%d\nother=%d\n", summary.duration, ok, busy, other))
  -- wrk times every response alike. A 503 is answered before any SQL or hashing, so the
  -- successful logins are the slowest responses: their p-th percentile is the whole
  -- distribution's at rank busy + p * ok (exact while no other non-2xx responses mix in).
  for _, p in ipairs({50, 99}) do
    local rank = 100 * (busy + p / 100 * ok) / math.max(ok + busy, 1)
    io.write(string.format("ok_p%d_us=%d\n", p, latency:percentile(math.min(rank, 100))))
  end
end
