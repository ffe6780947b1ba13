-- wrk script for bench/run.ts: POSTs one GraphQL body and checks every answer.
--   BENCH_BODY_FILE     the JSON request body
--   BENCH_TOKEN         the bearer token
--   BENCH_MARKER        a substring every correct response body contains
--   BENCH_EMAIL_PREFIX  when set, "__EMAIL__" in the body becomes <prefix>-<thread>-<n>@example.com,
--                       a fresh email for each request (W4)
-- At the end it prints one line: BENCH_RESULT {json}.

local body_file = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
local body = body_file:read("*a")
body_file:close()
local marker = os.getenv("BENCH_MARKER") or ""
local email_prefix = os.getenv("BENCH_EMAIL_PREFIX")

wrk.method = "POST"
wrk.body = body
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  wrong = 0
  sent = 0
  sample = ""
end

if email_prefix then
  function request()
    sent = sent + 1
    local email = string.format("%s-%d-%d@example.com", email_prefix, thread_id, sent)
    return wrk.format(nil, nil, nil, (body:gsub("__EMAIL__", email, 1)))
  end
end

function response(status, headers, response_body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if sample == "" then sample = tostring(status) .. " " .. string.sub(response_body or "", 1, 300) end
  elseif marker ~= "" and not string.find(response_body or "", marker, 1, true) then
    wrong = wrong + 1
    if sample == "" then sample = string.sub(response_body or "", 1, 300) end
  end
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local n2, w, sample_body = 0, 0, ""
  for _, thread in ipairs(threads) do
    n2 = n2 + (thread:get("non2xx") or 0)
    w = w + (thread:get("wrong") or 0)
    local s = thread:get("sample") or ""
    if sample_body == "" then sample_body = s end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"bytes":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,' ..
    '"socketErrors":%d,"non2xx":%d,"wrongBody":%d,"sample":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, n2, w, json_string(sample_body)))
end
