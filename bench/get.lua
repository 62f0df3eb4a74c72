-- wrk script: GET with an Authorization header (WRK_AUTH); prints one "WRKJSON " line
-- with the same fields as bench-peers' post.lua, and counts non-200 answers.
wrk.method = "GET"
local auth = os.getenv("WRK_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%.0f,"duration_us":%.0f,"err_status":%.0f,"lat_p50_us":%.0f,' ..
    '"lat_p99_us":%.0f}\n',
    summary.requests, summary.duration, e.status, latency:percentile(50), latency:percentile(99)))
end
