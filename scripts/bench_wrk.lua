-- wrk script for scripts/bench_webhook.py: replays pre-signed Twilio inbound-SMS webhooks.
--
-- Usage: wrk -t2 -c8 -d10s --latency -s scripts/bench_wrk.lua URL -- REQUEST_FILE NTHREADS
--
-- REQUEST_FILE has one request a line: the X-Twilio-Signature, a tab, the form-encoded body.
-- Thread k (0-based) of NTHREADS sends lines k, k+NTHREADS, k+2*NTHREADS, ... so no request is
-- sent twice across threads. A thread that runs out starts its stride again and counts that in
-- `wrapped` (the benchmark reports it: the file was too short for the run).
-- done() prints one line "BENCH_RESULT key=value ..." that bench_webhook.py parses.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("thread_id", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   local nthreads = tonumber(args[2] or "1")
   if path == nil then
      error("bench_wrk.lua needs the request file: wrk ... -s bench_wrk.lua URL -- FILE NTHREADS")
   end
   signatures, bodies = {}, {}
   local line_no = 0
   for line in io.lines(path) do
      if line_no % nthreads == thread_id then
         local tab = line:find("\t", 1, true)
         if tab then
            signatures[#signatures + 1] = line:sub(1, tab - 1)
            bodies[#bodies + 1] = line:sub(tab + 1)
         end
      end
      line_no = line_no + 1
   end
   count = #bodies
   if count == 0 then
      error("bench_wrk.lua: no requests for thread " .. thread_id .. " in " .. path)
   end
   next_index = 0
   wrapped = 0
   sent = 0
   status_2xx, status_3xx, status_4xx, status_5xx = 0, 0, 0, 0
   headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
   target_path = wrk.path ~= "" and wrk.path or "/twilio/sms"
end

function request()
   next_index = next_index + 1
   if next_index > count then
      next_index = 1
      wrapped = wrapped + 1
   end
   sent = sent + 1
   headers["X-Twilio-Signature"] = signatures[next_index]
   return wrk.format("POST", target_path, headers, bodies[next_index])
end

function response(status, resp_headers, body)
   if status >= 500 then
      status_5xx = status_5xx + 1
   elseif status >= 400 then
      status_4xx = status_4xx + 1
   elseif status >= 300 then
      status_3xx = status_3xx + 1
   elseif status >= 200 then
      status_2xx = status_2xx + 1
   end
end

function done(summary, latency, requests)
   local totals = { sent = 0, wrapped = 0, s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0 }
   for _, thread in ipairs(threads) do
      totals.sent = totals.sent + (thread:get("sent") or 0)
      totals.wrapped = totals.wrapped + (thread:get("wrapped") or 0)
      totals.s2xx = totals.s2xx + (thread:get("status_2xx") or 0)
      totals.s3xx = totals.s3xx + (thread:get("status_3xx") or 0)
      totals.s4xx = totals.s4xx + (thread:get("status_4xx") or 0)
      totals.s5xx = totals.s5xx + (thread:get("status_5xx") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT requests=%d duration_us=%d sent=%d wrapped=%d"
         .. " s2xx=%d s3xx=%d s4xx=%d s5xx=%d"
         .. " connect=%d read=%d write=%d timeout=%d status=%d"
         .. " lat_mean_us=%.1f lat_p50_us=%d lat_p90_us=%d lat_p99_us=%d lat_max_us=%d\n",
      summary.requests, summary.duration, totals.sent, totals.wrapped,
      totals.s2xx, totals.s3xx, totals.s4xx, totals.s5xx,
      e.connect, e.read, e.write, e.timeout, e.status,
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
