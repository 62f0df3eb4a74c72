-- wrk script: what one address without credentials can send (issue 16, item 4):
-- of every five requests one plain login page, one authorized-tokens page (both
-- store nothing) and three authorization requests of a public client (each would
-- store an interaction until the address's cap). env: FLOOD_TENANT, FLOOD_CLIENT,
-- FLOOD_ADDRESS (sent as X-Forwarded-For; the server trusts 127.0.0.1 as a proxy).
-- Prints "FLOODJSON {...}" with the answers counted by status.
local tenant = os.getenv("FLOOD_TENANT") or "flood"
local client = os.getenv("FLOOD_CLIENT") or "spa"
local address = os.getenv("FLOOD_ADDRESS") or "198.51.100.7"
local authorize = "/t/" .. tenant .. "/authorize?response_type=code&client_id=" .. client ..
  "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read&state=" .. string.rep("s", 2000) ..
  "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
local paths = {
  "/t/" .. tenant .. "/login",
  "/t/" .. tenant .. "/authorized-tokens",
  authorize, authorize, authorize,
}
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  counter = 0
  statuses = {}
end

request = function()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  return wrk.format("GET", path, { ["X-Forwarded-For"] = address })
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses")
    for status, count in pairs(seen) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  io.write(string.format('FLOODJSON {"requests":%.0f,"statuses":{%s}}\n',
    summary.requests, table.concat(parts, ",")))
end
