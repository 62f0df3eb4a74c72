-- wrk script: the whole authorization code flow with a live session, per flow:
--   GET  /t/bench/authorize?…  (session cookie; skip_authorization app) → 303 with a code
--   POST /t/bench/token        (authorization_code + PKCE verifier, HTTP Basic)
-- Codes from authorize answers queue per thread; each new request redeems one when
-- one is waiting, else starts a flow. A flow counts when its token answer is 200.
-- env: WRK_COOKIE (Cookie header), WRK_AUTH (Authorization), WRK_AUTHORIZE_PATH,
--      WRK_TOKEN_PATH, WRK_REDIRECT_URI, WRK_VERIFIER
local cookie = os.getenv("WRK_COOKIE")
local auth = os.getenv("WRK_AUTH")
local authorize_path = os.getenv("WRK_AUTHORIZE_PATH")
local token_path = os.getenv("WRK_TOKEN_PATH")
local redirect_uri = os.getenv("WRK_REDIRECT_URI")
local verifier = os.getenv("WRK_VERIFIER")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local codes = {}
flows = 0
failures = 0

local function encode(value)
  return (value:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  local code = table.remove(codes)
  if code then
    local body = "grant_type=authorization_code&code=" .. encode(code) ..
      "&redirect_uri=" .. encode(redirect_uri) .. "&code_verifier=" .. verifier
    return wrk.format("POST", token_path, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = auth,
    }, body)
  end
  return wrk.format("GET", authorize_path, { ["Cookie"] = cookie })
end

function response(status, headers, body)
  if status == 303 then
    local location = headers["Location"] or headers["location"] or ""
    local code = location:match("[?&]code=([^&]+)")
    if code then
      table.insert(codes, (code:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)))
    else
      failures = failures + 1
    end
  elseif status == 200 then
    flows = flows + 1
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local total, failed = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("flows")
    failed = failed + thread:get("failures")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'FLOWJSON {"flows":%d,"failures":%d,"seconds":%.2f,"flows_per_s":%.1f,"requests":%d,' ..
    '"lat_p50_us":%.0f,"lat_p99_us":%.0f}\n',
    total, failed, seconds, total / seconds, summary.requests,
    latency:percentile(50), latency:percentile(99)))
end
