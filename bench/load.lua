-- wrk script for the buildstate benchmark: one workload per wrk run.
--
--   wrk -c16 -t2 -d10s -s bench/load.lua http://127.0.0.1:PORT -- WORKLOAD N NONCE PROJECTS
--
-- WORKLOAD  create | state | get | list | list_filtered | dashboard | mixed
-- N         preloaded builds; their ids are id_of(0 .. N-1) (see bench/preload.py)
-- NONCE     makes the build numbers of `create` unique across runs on one database
-- PROJECTS  preloaded projects bench-p0 .. bench-p(PROJECTS-1)
--
-- Every non-2xx response is counted (wrk itself counts only >= 400), by status, and
-- done() prints one line "BENCH_RESULT {json}" that bench/wrk.py parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local HEADERS = { ["X-API-Key"] = "dev-key-12345", ["Content-Type"] = "application/json" }
local LIST_STATUSES = { "completed", "in_progress", "failed" }
local STATE_BODY = '{"state_code": 50, "status": "in_progress"}'
local CREATE_BODY = '{"project_id": "bench-p0", "platform_id": "aws-commercial", '
  .. '"os_version_id": "rhel-9.3", "image_type_id": "base", "build_number": "w-%s-%d-%d"}'

local workload, n, nonce, projects
local created = 0
non2xx = 0
by_status = {}

function init(args)
  workload, n, nonce, projects = args[1], tonumber(args[2]), args[3], tonumber(args[4])
  math.randomseed(os.time() * 100 + tid)
end

local function id_of(i)
  return string.format("00000000-0000-4000-8000-%012d", i)
end

-- Builds i with i % 4 == 0 are preloaded in_progress at state 50, last reported
-- in_progress: reporting 50 in_progress again is always accepted.
local function writable_id()
  return id_of(4 * math.random(0, math.floor((n - 1) / 4)))
end

local function get(path)
  return wrk.format("GET", path, HEADERS)
end

local requests = {}

function requests.create()
  created = created + 1
  return wrk.format("POST", "/builds", HEADERS, string.format(CREATE_BODY, nonce, tid, created))
end

function requests.state()
  return wrk.format("POST", "/builds/" .. writable_id() .. "/state", HEADERS, STATE_BODY)
end

function requests.get()
  return get("/builds/" .. id_of(math.random(0, n - 1)))
end

function requests.list()
  return get("/builds?limit=100")
end

function requests.list_filtered()
  local status = LIST_STATUSES[math.random(#LIST_STATUSES)]
  local project = math.random(0, projects - 1)
  return get(string.format("/builds?limit=100&project_id=bench-p%d&status=%s", project, status))
end

function requests.dashboard()
  return get("/dashboard/summary")
end

-- 80% reads (50% one build, 15% list, 15% dashboard), 20% state writes.
function requests.mixed()
  local r = math.random()
  if r < 0.2 then
    return requests.state()
  elseif r < 0.7 then
    return requests.get()
  elseif r < 0.85 then
    return requests.list()
  end
  return requests.dashboard()
end

function request()
  return requests[workload]()
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    by_status[status] = (by_status[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local errors, statuses = 0, {}
  for _, thread in ipairs(threads) do
    errors = errors + thread:get("non2xx")
    for status, count in pairs(thread:get("by_status")) do
      statuses[status] = (statuses[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(statuses) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "non2xx": %d, "statuses": {%s}, '
      .. '"socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"mean_us": %.1f}\n',
    summary.requests, summary.duration, errors, table.concat(parts, ", "),
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean
  ))
end
