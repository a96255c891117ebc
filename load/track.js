// k6 load test for event tracking: constant arrival rates, as the spec's throughput is stated.
//
//   TOKEN=$(npm run -s token -- --role service) k6 run -e BASE_URL=http://localhost:8080 -e TOKEN=$TOKEN load/track.js
//
// Two scenarios, one after the other: `batch` posts BATCH_RATE requests a second of BATCH_SIZE events each to
// POST /api/v1/events/batch (defaults: 34/s x 500 = 17,000 events/s, 1,020,000 a minute), then `single` posts
// SINGLE_RATE single events a second to POST /api/v1/customers/:id/track. Each runs for DURATION seconds; the
// thresholds are p99 acknowledgement under 50 ms. `k6 run --iterations 1 --vus 1` (or
// load/run-k6-under-node.ts, without k6) runs the default function: one batch and one single event.
//
// Environment: BASE_URL, TOKEN (a bearer JWT with events:write), DURATION [60], BATCH_RATE [34],
// BATCH_SIZE [500], SINGLE_RATE [2000], CUSTOMERS (ids to track for, created in setup) [200].
import http from "k6/http"
import { check } from "k6"

const BASE_URL = (__ENV.BASE_URL || "http://localhost:8080").replace(/\/+$/, "")
const TOKEN = __ENV.TOKEN || ""
const DURATION = Number(__ENV.DURATION || 60)
const BATCH_RATE = Number(__ENV.BATCH_RATE || 34)
const BATCH_SIZE = Number(__ENV.BATCH_SIZE || 500)
const SINGLE_RATE = Number(__ENV.SINGLE_RATE || 2000)
const CUSTOMER_COUNT = Number(__ENV.CUSTOMERS || 200)

const arrivals = (exec, rate, index) => ({
  executor: "constant-arrival-rate",
  exec,
  rate,
  timeUnit: "1s",
  duration: `${DURATION}s`,
  // Enough virtual users that a slow answer never holds back the next arrival.
  preAllocatedVUs: Math.max(10, Math.ceil(rate / 10)),
  maxVUs: Math.max(50, rate),
  startTime: `${index * (DURATION + 5)}s`
})

export const options = {
  scenarios: {
    batch: arrivals("trackBatch", BATCH_RATE, 0),
    single: arrivals("trackOne", SINGLE_RATE, 1)
  },
  thresholds: {
    "http_req_duration{scenario:batch}": ["p(99)<50"],
    "http_req_duration{scenario:single}": ["p(99)<50"],
    http_req_failed: ["rate<0.001"],
    checks: ["rate>0.999"]
  }
}

const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", accept: "application/json" }
const pick = (items) => items[Math.floor(Math.random() * items.length)]
const types = ["page_view", "page_view", "page_view", "product_view", "add_to_cart", "search", "purchase"]

const event = (customerId) => {
  const type = pick(types)
  const base = {
    type,
    sessionId: `k6-${__VU}-${Math.floor(__ITER / 20)}`,
    channel: pick(["web", "ios", "android"]),
    properties: { path: `/products/${Math.floor(Math.random() * 5000)}` }
  }
  const withCustomer = customerId === undefined ? base : Object.assign({ customerId }, base)
  return type === "purchase"
    ? Object.assign(withCustomer, { revenue: Math.round(Math.random() * 20000) / 100, currency: "USD" })
    : withCustomer
}

/** Runs once before the scenarios: the customers events are tracked for. */
export function setup() {
  const ids = []
  for (let i = 0; i < CUSTOMER_COUNT; i++) {
    const unique = `${i}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
    const created = http.post(`${BASE_URL}/api/v1/customers`, JSON.stringify({
      email: `k6.track.${unique}@load.example.com`,
      name: "Track Load",
      consent: { marketing: false, dataProcessing: true }
    }), { headers })
    check(created, { "setup: create 201": (r) => r.status === 201 })
    if (created.status === 201) ids.push(created.json("id"))
  }
  if (ids.length === 0) throw new Error(`no customers to track for at ${BASE_URL}`)
  return { ids }
}

export function trackBatch(data) {
  const events = []
  for (let i = 0; i < BATCH_SIZE; i++) events.push(event(pick(data.ids)))
  const res = http.post(`${BASE_URL}/api/v1/events/batch`, JSON.stringify({ events }), {
    headers,
    tags: { name: "POST /events/batch" }
  })
  check(res, {
    "batch: 200": (r) => r.status === 200,
    "batch: every event stored": (r) => r.status === 200 && r.json("stored") === BATCH_SIZE
  })
}

export function trackOne(data) {
  const res = http.post(`${BASE_URL}/api/v1/customers/${pick(data.ids)}/track`, JSON.stringify(event()), {
    headers,
    tags: { name: "POST /customers/:id/track" }
  })
  check(res, { "single: 200 stored": (r) => r.status === 200 && r.json("status") === "stored" })
}

/** One batch and one single event: what `k6 run --iterations N` and the node shim run. */
export default function(data) {
  trackBatch(data)
  trackOne(data)
}
