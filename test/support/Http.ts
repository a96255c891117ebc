/**
 * Calling the service under test over HTTP: JSON requests as any role, the
 * customer reads and writes most tests start from, and problem+json refusals.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import type { Role } from "../../src/domain/Access.ts"
import type { Customer } from "../../src/domain/Customer.ts"
import { customersPath, newCustomer } from "./Customers.ts"
import { json, TestService } from "./TestService.ts"

export interface CallOptions {
  /** Sent as JSON. */
  readonly body?: unknown
  /** Whose bearer token the request carries; admin unless given. */
  readonly role?: Role
  /** `false`: no bearer token, only what `headers` carry. */
  readonly auth?: boolean
  readonly headers?: Record<string, string>
}

/** A request to the service with a JSON body (when given), as `role`. */
export const call = (method: string, path: string, { body, ...init }: CallOptions = {}) =>
  Effect.flatMap(TestService, ({ request }) =>
    request(path, { ...init, method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }))

/** Creates a customer (by default a fresh valid one) through the API; anything but 201 fails the test. */
export const createCustomer = (body: unknown = newCustomer()) =>
  Effect.gen(function*() {
    const response = yield* call("POST", customersPath, { body })
    assert.strictEqual(response.status, 201)
    return yield* json<Customer>(response)
  })

/** Reads a customer through the API; anything but 200 fails the test. */
export const getCustomer = (id: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${customersPath}/${id}`)
    assert.strictEqual(response.status, 200)
    return yield* json<Customer>(response)
  })

/** An RFC 9457 problem, as the service refuses a request. */
export interface Problem {
  readonly type: string
  readonly status: number
  readonly title: string
  readonly detail?: string
  readonly field?: string
  readonly errors?: ReadonlyArray<{ readonly path: ReadonlyArray<string | number>; readonly message: string }>
}

/** Internals that must never reach a caller: stack frames, SQL, driver and constraint names. */
const leaks = [
  /\bat .+:\d+:\d+/,
  /\.ts:\d+/,
  /"stack"/,
  // The SQL verbs that are also English words count in capitals only.
  /\b(INSERT|UPDATE|DELETE FROM)\b/,
  /\b(SELECT|WHERE|ORDER BY)\b/i,
  /SqlError|PgConnection|postgres|constraint|customers_email_key|idempotency_keys/i
]

/**
 * Asserts a refusal: the status, RFC 9457 problem+json of `type` with a title,
 * and nothing of our internals in it. Returns the problem.
 */
export const expectProblem = (response: Response, status: number, type: string) =>
  Effect.gen(function*() {
    const text = yield* Effect.promise(() => response.text())
    assert.strictEqual(response.status, status, `${response.url} answered ${response.status}: ${text}`)
    assert.match(response.headers.get("content-type") ?? "", /^application\/problem\+json/)
    for (const leak of leaks) assert.notMatch(text, leak)
    const problem = JSON.parse(text) as Problem
    assert.strictEqual(problem.type, type)
    assert.strictEqual(problem.status, status)
    assert.isString(problem.title)
    return problem
  })

/** A refusal checked as expectProblem does, with its size in bytes (answers must not grow with hostile input). */
export const sizedProblem = (response: Response, status: number, type: string) =>
  Effect.gen(function*() {
    const text = yield* Effect.promise(() => response.text())
    const problem = yield* expectProblem(new Response(text, response), status, type)
    return { problem, bytes: Buffer.byteLength(text) }
  })

/** What a 400 invalid-request names as invalid, e.g. "payload.email" or "query.limit". */
export const invalidPaths = (problem: Problem) => (problem.errors ?? []).map((entry) => entry.path.join("."))
