-- Posts pre-signed deliveries from $BENCH_REQUESTS (one "signature<TAB>body" per line).
-- Each wrk thread takes every n-th line, so threads never send the same fresh event; when a
-- thread runs out it starts over, and those repeats are duplicates (answered 2xx, not stored).
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local path = os.getenv("BENCH_REQUESTS")
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  local header = os.getenv("BENCH_SIGNATURE_HEADER") or "Stripe-Signature"
  requests = {}
  local line_no = 0
  for line in io.lines(path) do
    if line_no % threads == id then
      local tab = line:find("\t", 1, true)
      local headers = { ["Content-Type"] = "application/json" }
      headers[header] = line:sub(1, tab - 1)
      requests[#requests + 1] = wrk.format("POST", nil, headers, line:sub(tab + 1))
    end
    line_no = line_no + 1
  end
  index = 0
end

function request()
  index = index + 1
  if index > #requests then
    index = 1
  end
  return requests[index]
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "non_2xx": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
