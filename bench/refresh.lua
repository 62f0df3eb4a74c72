-- wrk script: refresh-token grant, each request rotating a different pre-loaded token
-- (GROWTH_REFRESH_PREFIX .. i for i from GROWTH_REFRESH_FIRST on; one wrk thread, so
-- one counter). HTTP Basic in WRK_AUTH. Prints one "WRKJSON " line like get.lua.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("WRK_AUTH")
local prefix = os.getenv("GROWTH_REFRESH_PREFIX")
local next_token = tonumber(os.getenv("GROWTH_REFRESH_FIRST") or "1")

request = function()
  local body = "grant_type=refresh_token&refresh_token=" .. prefix .. next_token
  next_token = next_token + 1
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%.0f,"duration_us":%.0f,"err_status":%.0f,"lat_p50_us":%.0f,' ..
    '"lat_p99_us":%.0f}\n',
    summary.requests, summary.duration, e.status, latency:percentile(50), latency:percentile(99)))
end
