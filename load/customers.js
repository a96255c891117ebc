// k6 load test for the Customer Management Service.
//
//   TOKEN=$(npm run -s token -- --role admin) k6 run -e BASE_URL=http://localhost:8080 -e TOKEN=$TOKEN load/customers.js
//
// Scenarios run one after another (get, list, create, update), each with VUS
// virtual users for DURATION, so each endpoint's numbers stand alone; the
// thresholds are the spec's p95 targets. `k6 run --iterations 1 --vus 1`
// (or load/run-k6-under-node.ts, without k6) runs the default function: one
// pass through every endpoint.
//
// Environment: BASE_URL, TOKEN (a bearer JWT with write permission),
// VUS [50], DURATION in seconds [60], LIST_QUERY [status=ACTIVE&country=NL].
import http from "k6/http"
import { check, sleep } from "k6"

const BASE_URL = (__ENV.BASE_URL || "http://localhost:8080").replace(/\/+$/, "")
const TOKEN = __ENV.TOKEN || ""
const VUS = Number(__ENV.VUS || 50)
const DURATION = Number(__ENV.DURATION || 60)
const LIST_QUERY = __ENV.LIST_QUERY || "status=ACTIVE&country=NL"
const CUSTOMERS = `${BASE_URL}/api/v1/customers`

const scenario = (exec, index) => ({
  executor: "constant-vus",
  exec,
  vus: VUS,
  duration: `${DURATION}s`,
  startTime: `${index * (DURATION + 5)}s`,
  gracefulStop: "10s"
})

export const options = {
  scenarios: {
    get: scenario("getCustomer", 0),
    list: scenario("listCustomers", 1),
    create: scenario("createCustomer", 2),
    update: scenario("updateCustomer", 3)
  },
  thresholds: {
    "http_req_duration{scenario:get}": ["p(95)<100"],
    "http_req_duration{scenario:list}": ["p(95)<300"],
    "http_req_duration{scenario:create}": ["p(95)<200"],
    "http_req_duration{scenario:update}": ["p(95)<150"],
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"]
  }
}

const headers = (extra) => Object.assign({ authorization: `Bearer ${TOKEN}`, accept: "application/json" }, extra || {})
const json = { "content-type": "application/json" }
const pick = (items) => items[Math.floor(Math.random() * items.length)]
const countries = ["US", "GB", "DE", "FR", "ES", "IT", "SE", "JP", "BR", "CA"]

const newCustomer = () => {
  const unique = `${__VU}-${__ITER}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
  return {
    email: `k6.${unique}@load.example.com`,
    name: pick(["Ada Lovelace", "Grace Hopper", "Alan Turing", "Barbara Liskov", "Radia Perlman"]),
    age: 18 + Math.floor(Math.random() * 60),
    gender: pick(["MALE", "FEMALE", "OTHER"]),
    location: { country: pick(countries), city: "Springfield" },
    preferences: { language: "en", currency: "EUR", notifications: { email: true, sms: false, push: true } },
    tags: ["k6", pick(["vip", "newsletter", "mobile-app"])],
    metadata: { source: "k6" },
    consent: { marketing: Math.random() < 0.5, dataProcessing: true }
  }
}

/** Runs once before the scenarios: ids to read and update (existing ones, plus a few created here). */
export function setup() {
  const ids = []
  const page = http.get(`${CUSTOMERS}?limit=500&fields=id`, { headers: headers() })
  check(page, { "setup: list 200": (r) => r.status === 200 })
  if (page.status === 200) for (const customer of page.json("data")) ids.push(customer.id)
  for (let i = 0; i < 5; i++) {
    const created = http.post(CUSTOMERS, JSON.stringify(newCustomer()), { headers: headers(json) })
    check(created, { "setup: create 201": (r) => r.status === 201 })
    if (created.status === 201) ids.push(created.json("id"))
  }
  if (ids.length === 0) throw new Error(`no customers to work with at ${BASE_URL}`)
  return { ids }
}

export function getCustomer(data) {
  const res = http.get(`${CUSTOMERS}/${pick(data.ids)}`, { headers: headers(), tags: { name: "GET /customers/:id" } })
  check(res, {
    "get: 200": (r) => r.status === 200,
    "get: has an ETag": (r) => /^"v\d+"$/.test(r.headers["Etag"] || r.headers["etag"] || "")
  })
}

export function listCustomers() {
  const first = http.get(`${CUSTOMERS}?${LIST_QUERY}&limit=50`, { headers: headers(), tags: { name: "GET /customers" } })
  check(first, {
    "list: 200": (r) => r.status === 200,
    "list: a page of at most 50": (r) => r.status === 200 && r.json("data").length <= 50
  })
  // Every other iteration follows the cursor to the next page.
  const cursor = first.status === 200 ? first.json("nextCursor") : null
  if (cursor && __ITER % 2 === 1) {
    const next = http.get(`${CUSTOMERS}?${LIST_QUERY}&limit=50&cursor=${encodeURIComponent(cursor)}`, {
      headers: headers(),
      tags: { name: "GET /customers?cursor" }
    })
    check(next, { "list: next page 200": (r) => r.status === 200 })
  }
}

export function createCustomer() {
  const res = http.post(CUSTOMERS, JSON.stringify(newCustomer()), { headers: headers(json), tags: { name: "POST /customers" } })
  check(res, {
    "create: 201": (r) => r.status === 201,
    "create: has a Location": (r) => (r.headers["Location"] || r.headers["location"] || "").startsWith("/api/v1/customers/")
  })
}

export function updateCustomer(data) {
  // PATCH without If-Match: last writer wins, so concurrent virtual users do not collect 412s.
  const body = JSON.stringify({ age: 18 + Math.floor(Math.random() * 60), metadata: { source: "k6", touched: Date.now() } })
  const res = http.patch(`${CUSTOMERS}/${pick(data.ids)}`, body, {
    headers: headers(json),
    tags: { name: "PATCH /customers/:id" }
  })
  check(res, { "update: 200": (r) => r.status === 200 })
}

/** One pass through every endpoint: what `k6 run --iterations N` and the node shim run. */
export default function(data) {
  getCustomer(data)
  listCustomers()
  createCustomer()
  updateCustomer(data)
  sleep(0.1)
}
