-- wrk script: POST one login form again and again (a wrong password: each is one
-- argon2id verification). env: WRK_BODY. The Cookie header comes from wrk -H.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%.0f,"duration_us":%.0f,"err_status":%.0f,"err_timeout":%.0f,' ..
    '"lat_p50_us":%.0f,"lat_p99_us":%.0f}\n',
    summary.requests, summary.duration, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
