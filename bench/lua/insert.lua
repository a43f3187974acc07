-- wrk script for `bun run bench`: POSTs BENCH_BATCH JSON rows per request (one object when 1, else an array), with ids
-- unique across threads and requests, and prints one `BENCH_RESULT {...}` JSON line from done(). With BENCH_BATCH=0 it
-- sends plain GETs of the URL instead (bench/query-isolation.ts's reads).
-- The rows are bench/rows.ts's jsonRow. Generating them must cost wrk little, since it shares 2 cores with the server:
-- the body is built once as a template, and each request only substitutes its own counter C into it (one gsub, in C),
-- giving row i the id C * 10^w + i, where w is the number of digits of batch - 1.
local batch = tonumber(os.getenv('BENCH_BATCH') or '1')
local id_base = tonumber(os.getenv('BENCH_ID_BASE') or '10000000000000')
local token = os.getenv('BENCH_TOKEN') or ''

-- Runs in the main Lua state, once per thread, before the threads start: gives each thread its own id range.
local thread_count = 0
function setup(thread)
  thread:set('thread_index', thread_count)
  thread_count = thread_count + 1
end

local width = batch > 1 and #tostring(batch - 1) or 0
local scale = 10 ^ width
local template
local counter

function init(args)
  if token ~= '' then wrk.headers['Authorization'] = 'Bearer ' .. token end
  if batch == 0 then return end
  counter = math.floor(id_base / scale) + (thread_index or 0) * math.floor(1e12 / scale)
  local rows = {}
  for i = 0, batch - 1 do
    local id = width > 0 and ('@' .. string.format('%0' .. width .. 'd', i)) or '@'
    rows[#rows + 1] = '{"id":' .. id .. ',"name":"n' .. id .. '","score":1.5,"active":true}'
  end
  template = batch == 1 and rows[1] or ('[' .. table.concat(rows, ',') .. ']')
  wrk.method = 'POST'
  wrk.headers['Content-Type'] = 'application/json'
end

function request()
  if batch == 0 then return wrk.format() end
  counter = counter + 1
  return wrk.format(nil, nil, nil, (template:gsub('@', string.format('%.0f', counter))))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
