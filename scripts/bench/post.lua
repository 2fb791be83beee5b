-- wrk script: POSTs the file named by BODY_FILE with the content type and headers named in the environment.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE")
if os.getenv("ORIGIN") then wrk.headers["Origin"] = os.getenv("ORIGIN") end
if os.getenv("USER_AGENT") then wrk.headers["User-Agent"] = os.getenv("USER_AGENT") end

-- Each thread counts its 2xx answers; done() adds them up, so the caller can check that every accepted
-- request arrived downstream.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() accepted = 0 end
function response(status)
  if status >= 200 and status < 300 then accepted = accepted + 1 end
end

done = function(summary, latency, requests)
  local ok = 0
  for _, thread in ipairs(threads) do ok = ok + thread:get("accepted") end
  io.write(string.format("requests=%d accepted=%d errors=%d p50_ms=%.2f p99_ms=%.2f rps=%.0f accepted_per_s=%.1f\n",
    summary.requests, ok, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests / (summary.duration / 1e6),
    ok / (summary.duration / 1e6)))
end
