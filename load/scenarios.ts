/**
 * What each scenario sends. The same request stream goes to the service and
 * to the baseline; only the base URL (and, for hello, the path) differs.
 */

export type ScenarioName =
  | "hello"
  | "get"
  | "list"
  | "list-deep"
  | "create"
  | "update"
  | "track"
  | "track-batch"
  | "list-search"
  | AnalyticsScenario
  | SegmentScenario

/** Reads over the events seeded at scale (load/seed-events.ts), run by the analytics phase (load/analytics.ts). */
export type AnalyticsScenario =
  | "analytics"
  | "analytics-heavy"
  | "insights"
  | "insights-heavy"
  | "timeline"
  | "timeline-deep"
  | "fleet"
  | "cohorts"

/** A segment's members, 100 a page, by the segments phase (load/segments.ts): first page, middle, last pages. */
export type SegmentScenario = "members-first" | "members-middle" | "members-last"

export interface ScenarioData {
  /** Non-deleted customer ids sampled from the seed. */
  readonly ids: ReadonlyArray<string>
  /** The list filter, e.g. `status=ACTIVE&country=NL`. */
  readonly listFilter: string
  /** Cursors (for `sort=-createdAt` under listFilter) that point deep into the result. */
  readonly deepCursors: ReadonlyArray<string>
  /** The customer with the most events, and timeline cursors at every depth of theirs (analytics phase). */
  readonly heavyCustomer?: string
  readonly timelineCursors?: ReadonlyArray<string>
  /** Name and email fragments of customers created through the API (encryption phase, load/encryption.ts). */
  readonly searchTerms?: ReadonlyArray<string>
  /** The segment whose members are paged, and member ids in the middle and on the last pages (segments phase). */
  readonly memberSegment?: string
  readonly memberCursors?: { readonly middle: ReadonlyArray<string>; readonly last: ReadonlyArray<string> }
}

export interface Target {
  /** logged: a second service process with ACCESS_LOG=true; plain: one with PII_ENCRYPTION=false. */
  readonly kind: "service" | "logged" | "baseline" | "plain"
  readonly baseUrl: string
  /** Bearer token (service only). */
  readonly token?: string
}

export interface RequestSpec {
  readonly method: "GET" | "POST" | "PATCH"
  readonly path: string
  readonly body?: string
}

export const scenarioNames: ReadonlyArray<ScenarioName> = ["hello", "get", "list", "list-deep", "create", "update"]

/** Tracking scenarios: run by the ingest phase (load/ingest.ts) at their own rates, not in the scenario matrix. */
export const trackingScenarios: ReadonlyArray<ScenarioName> = ["track", "track-batch"]

/** Events per request of track-batch (BENCH_BATCH_SIZE). */
export const batchSize = Number(process.env.BENCH_BATCH_SIZE ?? 500)

export const describe: Record<ScenarioName, string> = {
  hello: "GET /health (service) vs GET /hello (baseline): HTTP stack only",
  get: "GET /api/v1/customers/:id, random seeded id",
  list: "GET /api/v1/customers?<filter>&limit=50 (first page + capped count)",
  "list-deep": "same filter, a page deep in the result via cursor",
  create: "POST /api/v1/customers (customer + outbox + audit in one tx)",
  update: "PATCH /api/v1/customers/:id without If-Match, random id (select + update + outbox + audit)",
  track: "POST /api/v1/customers/:id/track, one event for a random seeded customer",
  "track-batch": `POST /api/v1/events/batch, ${batchSize} events for random seeded customers`,
  "list-search": "GET /api/v1/customers?q=<name or email fragment>&limit=50 over sealed names and emails (blind-indexed tokens)",
  analytics: "GET /api/v1/customers/:id/analytics, random seeded customer",
  "analytics-heavy": "GET /api/v1/customers/:id/analytics of the customer with 100,000 events",
  insights: "GET /api/v1/customers/:id/insights, random seeded customer",
  "insights-heavy": "GET /api/v1/customers/:id/insights of the customer with 100,000 events",
  timeline: "GET /api/v1/customers/:id/events?limit=50, first page, random seeded customer",
  "timeline-deep": "GET /api/v1/customers/:id/events?limit=50&cursor=..., the heavy customer at a random depth",
  fleet: "GET /api/v1/analytics/fleet over two years, by day, week or month in turn",
  cohorts: "GET /api/v1/analytics/cohorts over two years of signup months",
  "members-first": "GET /api/v1/customers/segments/:id/customers, the first page (100)",
  "members-middle": "the same with a cursor 40-60 % into the members",
  "members-last": "the same with a cursor on the last pages"
}

/** Spec p95 targets in ms (get, list, create, update); hello has none. */
export const p95TargetMs: Partial<Record<ScenarioName, number>> = {
  get: 100,
  list: 300,
  "list-deep": 300,
  create: 200,
  update: 150
}

/** Our throughput targets: service rps as a share of the raw baseline's. */
export const ratioTarget: Partial<Record<ScenarioName, number>> = { get: 0.35, create: 0.15 }

/** Issue 13's target: with ACCESS_LOG on, at least this share of the throughput with it off. */
export const accessLogTarget = 0.9

/**
 * BENCH_EVENT_DEVICE=1: each event carries device details (sealed at rest under the customer's data key, one AEAD
 * per event), as web and app SDKs send them; by default events carry none, and so nothing personal.
 */
const deviceDetails = process.env.BENCH_EVENT_DEVICE === "1"
  ? { device: { type: "mobile", os: "iOS", osVersion: "18.1", userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)" } }
  : {}

const eventTypes = ["page_view", "page_view", "page_view", "product_view", "add_to_cart", "search", "purchase"]

/**
 * One tracked event as the k6 script sends it (load/track.js), without an id or time: the service makes them,
 * so the same body can be sent again and again and every event is new.
 */
export const benchEvent = (customerId: string | undefined, n: number) => {
  const type = eventTypes[n % eventTypes.length]
  return {
    ...(customerId === undefined ? {} : { customerId }),
    type,
    sessionId: `bench-${Math.floor(n / 20)}`,
    channel: ["web", "ios", "android"][n % 3],
    properties: { path: `/products/${n % 5000}` },
    ...deviceDetails,
    ...(type === "purchase" ? { revenue: (n % 20000) / 100, currency: "USD" } : {})
  }
}

/** Bodies built once per run: JSON of hundreds of events is too slow to build per request at 17,000 events/s. */
const batchBodies = (data: ScenarioData) =>
  Array.from({ length: 64 }, (_, body) =>
    JSON.stringify({
      events: Array.from({ length: batchSize }, (_, n) =>
        benchEvent(data.ids[(body * batchSize + n * 7919) % data.ids.length], body * batchSize + n))
    }))

/** No NL: created customers must not change how many rows the list filter (country=NL) matches. */
const countries = ["US", "GB", "DE", "FR", "ES", "IT", "SE", "JP", "BR", "CA"]
const firstNames = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Edsger", "Margaret", "Ken", "Radia", "Donald"]
const lastNames = ["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Dijkstra", "Hamilton", "Thompson", "Perlman"]

/**
 * A request generator for one scenario. `seed` makes every worker's emails
 * unique (the run id plus a counter).
 */
export const requestsFor = (scenario: ScenarioName, target: Target, data: ScenarioData, seed: string) => {
  let counter = 0
  const randomId = () => data.ids[Math.floor(Math.random() * data.ids.length)]
  const pick = <A>(items: ReadonlyArray<A>) => items[Math.floor(Math.random() * items.length)]
  switch (scenario) {
    case "hello":
      return (): RequestSpec => ({ method: "GET", path: target.kind === "baseline" ? "/hello" : "/health" })
    case "get":
      return (): RequestSpec => ({ method: "GET", path: `/api/v1/customers/${randomId()}` })
    case "list":
      return (): RequestSpec => ({ method: "GET", path: `/api/v1/customers?${data.listFilter}&limit=50` })
    case "list-deep":
      return (): RequestSpec => ({
        method: "GET",
        path: `/api/v1/customers?${data.listFilter}&limit=50&cursor=${pick(data.deepCursors)}`
      })
    case "create":
      return (): RequestSpec => {
        const n = counter++
        const first = pick(firstNames)
        const last = pick(lastNames)
        return {
          method: "POST",
          path: "/api/v1/customers",
          body: JSON.stringify({
            email: `${first.toLowerCase()}.${last.toLowerCase()}.${seed}.${n}@bench.example.com`,
            name: `${first} ${last}`,
            age: 18 + Math.floor(Math.random() * 60),
            gender: pick(["MALE", "FEMALE", "OTHER"]),
            location: { country: pick(countries), city: "Springfield" },
            preferences: { language: "en", currency: "EUR", notifications: { email: true, sms: false, push: true } },
            tags: ["bench", pick(["vip", "newsletter", "mobile-app"])],
            metadata: { source: "bench", orders: n % 17 },
            consent: { marketing: Math.random() < 0.5, dataProcessing: true }
          })
        }
      }
    case "update":
      return (): RequestSpec => ({
        method: "PATCH",
        path: `/api/v1/customers/${randomId()}`,
        // The counter makes every patch a real change (an unchanged patch is answered without writing).
        body: JSON.stringify({ age: 18 + Math.floor(Math.random() * 60), metadata: { source: "bench", touch: `${seed}.${counter++}` } })
      })
    case "list-search":
      return (): RequestSpec => ({
        method: "GET",
        path: `/api/v1/customers?q=${encodeURIComponent(pick(data.searchTerms ?? ["lovelace"]))}&limit=50`
      })
    case "track":
      return (): RequestSpec => ({
        method: "POST",
        path: `/api/v1/customers/${randomId()}/track`,
        body: JSON.stringify(benchEvent(undefined, counter++))
      })
    case "analytics":
    case "insights":
      return (): RequestSpec => ({ method: "GET", path: `/api/v1/customers/${randomId()}/${scenario}` })
    case "analytics-heavy":
    case "insights-heavy":
      return (): RequestSpec => ({
        method: "GET",
        path: `/api/v1/customers/${data.heavyCustomer}/${scenario === "analytics-heavy" ? "analytics" : "insights"}`
      })
    case "timeline":
      return (): RequestSpec => ({ method: "GET", path: `/api/v1/customers/${randomId()}/events?limit=50` })
    case "timeline-deep":
      return (): RequestSpec => ({
        method: "GET",
        path: `/api/v1/customers/${data.heavyCustomer}/events?limit=50&cursor=${pick(data.timelineCursors ?? [])}`
      })
    case "fleet": {
      const from = new Date(Date.now() - 730 * 86_400_000).toISOString().slice(0, 10)
      const periods = ["day", "week", "month"]
      return (): RequestSpec => ({
        method: "GET",
        path: `/api/v1/analytics/fleet?period=${periods[counter++ % 3]}&from=${from}`
      })
    }
    case "cohorts": {
      const from = new Date(Date.now() - 730 * 86_400_000).toISOString().slice(0, 10)
      return (): RequestSpec => ({ method: "GET", path: `/api/v1/analytics/cohorts?from=${from}` })
    }
    case "members-first":
      return (): RequestSpec => ({ method: "GET", path: `/api/v1/customers/segments/${data.memberSegment}/customers` })
    case "members-middle":
    case "members-last": {
      const cursors = (scenario === "members-middle" ? data.memberCursors?.middle : data.memberCursors?.last) ?? []
      return (): RequestSpec => ({
        method: "GET",
        path: `/api/v1/customers/segments/${data.memberSegment}/customers?cursor=${pick(cursors)}`
      })
    }
    case "track-batch": {
      const bodies = batchBodies(data)
      return (): RequestSpec => ({ method: "POST", path: "/api/v1/events/batch", body: bodies[counter++ % bodies.length] })
    }
  }
}
