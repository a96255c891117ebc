/**
 * A stand-in for the Rules Management Service (docs/rules-engine.md): the
 * contract's endpoints over rules read from a JSON file, each a list of
 * conditions on the facts sent that must all hold. For tests and local
 * starts only; it has knobs a real engine has not: latency, failing with
 * 500, going down and coming back on the same port, request counters.
 */
import { readFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export interface Condition {
  readonly fact: string
  readonly op: "eq" | "in" | "gte" | "lte" | "contains"
  readonly value: unknown
}

export interface RuleDefinition {
  readonly id: string
  readonly name: string
  readonly version: number
  readonly conditions: ReadonlyArray<Condition>
}

export const defaultRulesFile = new URL("./rules.json", import.meta.url)

export const readRules = (file: URL | string = defaultRulesFile): ReadonlyArray<RuleDefinition> =>
  (JSON.parse(readFileSync(file, "utf8")) as { readonly rules: ReadonlyArray<RuleDefinition> }).rules

/** What the stand-in received, by endpoint. */
export interface RequestCounts {
  lookups: number
  evaluations: number
  /** Customers sent to evaluate, in all. */
  evaluated: number
  health: number
}

/**
 * How the stand-in spoils its successful answers (lookups and evaluations, never /health), as a broken or
 * hostile engine would: JSON cut short, HTML, the wrong shape, results for customers not sent, the right answer
 * padded with megabytes, or a body that never ends.
 */
export type Misbehaviour = "truncated" | "html" | "wrong-shape" | "foreign-results" | "padded" | "endless"

/** The padding of a `padded` answer: far more than any genuine answer (1,000 results are about 60 KB). */
export const paddingBytes = 16 * 1024 * 1024

export interface RulesEngineStandIn {
  readonly url: string
  readonly apiKey: string
  readonly requests: RequestCounts
  /** Every answer is delayed this long (0: none). */
  setLatency(millis: number): void
  /** While true, every request but /health is answered 500. */
  setFailing(failing: boolean): void
  /** Until set back to undefined, every successful answer but /health's is spoilt this way. */
  setMisbehaviour(misbehaviour: Misbehaviour | undefined): void
  /** Stops listening (connections in flight are cut): callers meet a refused connection. */
  down(): Promise<void>
  /** Listens again on the same port. */
  up(): Promise<void>
  resetCounts(): void
  stop(): Promise<void>
}

export interface StandInOptions {
  readonly port?: number
  readonly host?: string
  readonly apiKey: string
  readonly rules?: ReadonlyArray<RuleDefinition>
}

const maxBatch = 1000
const maxBodyBytes = 4 * 1024 * 1024

const numeric = (value: unknown): number | null =>
  typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : null

/** A null or absent fact matches no condition. */
const holds = (condition: Condition, facts: Readonly<Record<string, unknown>>): boolean => {
  const fact = facts[condition.fact]
  if (fact === null || fact === undefined) return false
  switch (condition.op) {
    case "eq":
      return fact === condition.value
    case "in":
      return Array.isArray(condition.value) && condition.value.includes(fact)
    case "contains":
      return Array.isArray(fact) && fact.includes(condition.value)
    case "gte":
    case "lte": {
      const left = numeric(fact)
      const right = numeric(condition.value)
      if (left === null || right === null || Number.isNaN(left) || Number.isNaN(right)) return false
      return condition.op === "gte" ? left >= right : left <= right
    }
  }
}

export const ruleMatches = (rule: RuleDefinition, facts: Readonly<Record<string, unknown>>) =>
  rule.conditions.every((condition) => holds(condition, facts))

const send = (response: ServerResponse, status: number, body: unknown, contentType = "application/json") => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) })
  response.end(text)
}

const problem = (response: ServerResponse, status: number, slug: string, title: string) =>
  send(response, status, { type: `/problems/${slug}`, title, status }, "application/problem+json")

const readBody = (request: IncomingMessage): Promise<string | null> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBodyBytes) chunks.push(chunk)
    })
    request.on("end", () => resolve(size > maxBodyBytes ? null : Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

interface Subject {
  readonly id: string
  readonly facts: Readonly<Record<string, unknown>>
}

const isSubject = (value: unknown): value is Subject =>
  typeof value === "object" && value !== null && typeof (value as { id?: unknown }).id === "string" &&
  typeof (value as { facts?: unknown }).facts === "object" && (value as { facts?: unknown }).facts !== null

export const startRulesEngine = async (options: StandInOptions): Promise<RulesEngineStandIn> => {
  const rules = new Map((options.rules ?? readRules()).map((rule) => [rule.id, rule]))
  const host = options.host ?? "127.0.0.1"
  const requests: RequestCounts = { lookups: 0, evaluations: 0, evaluated: 0, health: 0 }
  let latency = 0
  let failing = false
  let misbehaviour: Misbehaviour | undefined

  /** A 200 with `body`, spoilt as `misbehaviour` says. */
  const answer = (response: ServerResponse, body: Record<string, unknown>) => {
    switch (misbehaviour) {
      case undefined:
        return send(response, 200, body)
      case "truncated": {
        const text = JSON.stringify(body)
        response.writeHead(200, { "content-type": "application/json" })
        return response.end(text.slice(0, Math.floor(text.length / 2)))
      }
      case "html":
        response.writeHead(200, { "content-type": "text/html" })
        return response.end("<html><body><h1>Maintenance</h1></body></html>")
      case "wrong-shape":
        return send(response, 200, { data: [body], ok: "yes" })
      case "foreign-results":
        return send(response, 200, { ...body, results: [{ id: "not-a-customer-we-were-sent", matches: true }] })
      case "padded":
        return send(response, 200, { ...body, padding: "x".repeat(paddingBytes) })
      case "endless": {
        response.writeHead(200, { "content-type": "application/json" })
        const chunk = `"${"x".repeat(65_536)}",`
        response.write("{\"padding\":[")
        const more = () => {
          while (!response.destroyed && response.write(chunk)) {
            // Until the socket's buffer is full; then wait for it to drain.
          }
          if (!response.destroyed) response.once("drain", more)
        }
        return more()
      }
    }
  }

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://stand-in")
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency))
    if (request.method === "GET" && url.pathname === "/health") {
      requests.health += 1
      return send(response, 200, { status: "ok" })
    }
    const match = /^\/v1\/rules\/([^/]+)(\/evaluate)?$/.exec(url.pathname)
    if (match !== null && match[2] === undefined && request.method === "GET") requests.lookups += 1
    if (match !== null && match[2] !== undefined && request.method === "POST") requests.evaluations += 1
    if (failing) return problem(response, 500, "internal", "The stand-in was told to fail")
    if (request.headers.authorization !== `Bearer ${options.apiKey}`) {
      return problem(response, 401, "unauthenticated", "A valid bearer key is required")
    }
    if (match === null) return problem(response, 404, "not-found", "No such endpoint")
    const rule = rules.get(decodeURIComponent(match[1]))
    if (match[2] === undefined) {
      if (request.method !== "GET") return problem(response, 405, "method-not-allowed", "GET only")
      if (rule === undefined) return problem(response, 404, "rule-not-found", "No such rule")
      return answer(response, { id: rule.id, name: rule.name, version: rule.version })
    }
    if (request.method !== "POST") return problem(response, 405, "method-not-allowed", "POST only")
    const text = await readBody(request)
    if (text === null) return problem(response, 413, "too-large", "The body is too large")
    if (rule === undefined) return problem(response, 404, "rule-not-found", "No such rule")
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      return problem(response, 400, "invalid-body", "The body is not JSON")
    }
    const customers = (body as { customers?: unknown } | null)?.customers
    if (!Array.isArray(customers) || customers.length === 0 || !customers.every(isSubject)) {
      return problem(response, 400, "invalid-body", "customers: 1 or more of {id, facts}")
    }
    if (customers.length > maxBatch) return problem(response, 413, "too-large", `At most ${maxBatch} customers`)
    requests.evaluated += customers.length
    return answer(response, {
      ruleId: rule.id,
      version: rule.version,
      results: customers.map((customer) => ({ id: customer.id, matches: ruleMatches(rule, customer.facts) }))
    })
  }

  const listen = (server: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject)
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port))
    })
  const newServer = () =>
    createServer((request, response) => {
      handle(request, response).catch(() => {
        if (!response.headersSent) problem(response, 500, "internal", "The stand-in failed")
        else response.destroy()
      })
    })
  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })

  let server = newServer()
  const port = await listen(server, options.port ?? 0)
  let listening = true
  return {
    url: `http://${host}:${port}`,
    apiKey: options.apiKey,
    requests,
    setLatency: (millis) => {
      latency = millis
    },
    setFailing: (value) => {
      failing = value
    },
    setMisbehaviour: (value) => {
      misbehaviour = value
    },
    down: async () => {
      if (!listening) return
      listening = false
      await close(server)
    },
    up: async () => {
      if (listening) return
      server = newServer()
      await listen(server, port)
      listening = true
    },
    resetCounts: () => {
      requests.lookups = 0
      requests.evaluations = 0
      requests.evaluated = 0
      requests.health = 0
    },
    stop: async () => {
      if (!listening) return
      listening = false
      await close(server)
    }
  }
}
