-- wrk script for login_throughput.py: logins spread over the bench users.
-- Usage: wrk -s login_storm.lua URL -- USERS PASSWORD
-- At the end it prints, one per line as name=value: the run's length, the count of responses
-- of each status and the p50 and p99 latencies of the successful logins.
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
  local counts, ok, busy = {}, 0, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  io.write(string.format("duration_us=%d\n", summary.duration))
  for status, count in pairs(counts) do
    io.write(string.format("status_%d=%d\n", status, count))
    if status >= 200 and status < 300 then ok = ok + count end
    if status == 503 then busy = count end
  end
  -- wrk times every response alike. A 503 is answered before any SQL or hashing, so the
  -- successful logins are the slowest responses: their p-th percentile is the whole
  -- distribution's at rank busy + p * ok (exact while no other non-2xx responses mix in).
  for _, p in ipairs({50, 99}) do
    local rank = 100 * (busy + p / 100 * ok) / math.max(ok + busy, 1)
    io.write(string.format("ok_p%d_us=%d\n", p, latency:percentile(math.min(rank, 100))))
  end
end
