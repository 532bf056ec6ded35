-- wrk script for login_throughput.py: logins spread over the bench users.
-- Usage: wrk -s login_storm.lua URL -- USERS PASSWORD
local users, password
local counter = 0

function init(args)
  users = tonumber(args[1])
  password = args[2]
end

function request()
  counter = counter + 1
  local body = string.format('{"email":"user%d@bench.test","password":"%s"}', counter % users, password)
  return wrk.format("POST", "/auth/login", {["Content-Type"] = "application/json"}, body)
end
