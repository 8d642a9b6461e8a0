-- wrk script of the OCSP benchmark (bench/va.py runs it the same way against every responder).
--
-- Each connection cycles through the request paths listed one per line in the file named by
-- FINCERT_WRK_PATHS (GET, RFC 6960 A.1), each thread from a different offset. Every response is
-- checked: HTTP 200, an OCSP content type, and a DER OCSPResponse whose responseStatus is
-- successful (0); anything else is counted as bad, and bench/va.py fails the run when any
-- response was bad or wrk saw a socket error or a timeout. done() prints one line,
-- "FINCERT-WRK " followed by JSON: counts, duration and latency percentiles.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local requests = {}
local position = 0
ok = 0
bad = 0
sample = ""

function init(args)
  local file = os.getenv("FINCERT_WRK_PATHS")
  if file == nil then
    error("FINCERT_WRK_PATHS names no file of request paths")
  end
  for path in io.lines(file) do
    if #path > 0 then
      table.insert(requests, wrk.format("GET", path))
    end
  end
  if #requests == 0 then
    error("no request paths in " .. file)
  end
  position = (id * 7919) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end

-- FINCERT_WRK_PACE_MS: each connection waits this long after a response before its next request,
-- which caps the rate (connections / pace) to measure latency at a given load, not at saturation.
local pace = tonumber(os.getenv("FINCERT_WRK_PACE_MS") or "")
if pace ~= nil then
  function delay()
    return pace
  end
end

-- responseStatus is the first element of the OCSPResponse SEQUENCE: ENUMERATED (0x0a), length 1.
local function successful_ocsp(body)
  if body == nil or #body < 5 or body:byte(1) ~= 0x30 then
    return false
  end
  local length_byte = body:byte(2)
  local offset = 3
  if length_byte >= 0x80 then
    offset = 3 + (length_byte - 0x80)
  end
  return body:byte(offset) == 0x0a and body:byte(offset + 1) == 0x01 and body:byte(offset + 2) == 0x00
end

function response(status, headers, body)
  local content_type = headers["content-type"] or headers["Content-type"] or headers["Content-Type"]
  if status == 200 and content_type == "application/ocsp-response" and successful_ocsp(body) then
    ok = ok + 1
  else
    bad = bad + 1
    if sample == "" then
      sample = "HTTP " .. status .. ", content-type " .. tostring(content_type) .. ", " .. tostring(body and #body) .. " bytes"
    end
  end
end

function done(summary, latency, requests)
  local good, wrong, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    wrong = wrong + thread:get("bad")
    local s = thread:get("sample")
    if first == "" and s ~= nil then
      first = s
    end
  end
  local e = summary.errors
  io.write(string.format(
    'FINCERT-WRK {"requests": %d, "ok": %d, "bad": %d, "bad_sample": "%s", "duration_s": %.6f, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, good, wrong, (first:gsub('"', "'")), summary.duration / 1e6,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000
  ))
end
