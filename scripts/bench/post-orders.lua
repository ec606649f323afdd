-- wrk script: POST /v1/orders with a different customer per request, one hot SKU.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  statuses = {}
end

request = function()
  counter = counter + 1
  local body = string.format('{"sku":"FLASH-1","quantity":1,"customer_id":"c-%d-%d"}', id, counter)
  return wrk.format("POST", "/v1/orders", { ["content-type"] = "application/json" }, body)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do merged[code] = (merged[code] or 0) + n end
  end
  for code, n in pairs(merged) do io.write(string.format("status %d: %d\n", code, n)) end
  io.write(string.format("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
