/**
 * The security suite's view of the service: every documented operation with
 * the permission it needs (read from the contract, so a new route is covered
 * without an edit), requests built for any of them, and a fingerprint of the
 * whole database to prove a refused request changed nothing.
 */
import { PgClient } from "@effect/sql-pg"
import { assert } from "@effect/vitest"
import { Context, Effect, Option } from "effect"
import { HttpApi } from "effect/http-api"
import { Api } from "../../src/api/Api.ts"
import { CustomersRpc } from "../../src/api/CustomersRpc.ts"
import { openApiDocument } from "../../src/api/Documentation.ts"
import { RequiredPermission } from "../../src/api/Security.ts"
import { holds, type Permission, Role } from "../../src/domain/Access.ts"
import { operationsOf } from "./OpenApi.ts"

export const document = openApiDocument()

export interface Operation {
  readonly id: string
  readonly method: string
  /** As the document writes it, e.g. `/api/v1/customers/{id}`. */
  readonly path: string
  readonly hasBody: boolean
  /** The query parameters it declares. */
  readonly query: ReadonlyArray<string>
  readonly authenticated: boolean
  /** What the operation needs beyond authentication; undefined for reads every role may make. */
  readonly permission: Permission | undefined
}

/** `GET /api/v1/customers/:id` → its permission, from the annotations the server's Authorization middleware reads. */
const permissions = new Map<string, Permission>()
HttpApi.reflect(Api, {
  onGroup: () => {},
  onEndpoint: ({ endpoint, mergedAnnotations }) =>
    Option.map(Context.getOption(mergedAnnotations, RequiredPermission), (permission) =>
      permissions.set(`${endpoint.method} ${endpoint.path.replace(/:(\w+)/g, "{$1}")}`, permission))
})

/** Every operation of the published OpenAPI document. */
export const operations: ReadonlyArray<Operation> = operationsOf(document).map(({ id, method, path, operation }) => {
  const details = operation as unknown as {
    readonly requestBody?: unknown
    readonly security?: ReadonlyArray<unknown>
    readonly parameters?: ReadonlyArray<{ readonly name: string; readonly in: string }>
  }
  return {
    id,
    method,
    path,
    hasBody: details.requestBody !== undefined,
    query: (details.parameters ?? []).filter((parameter) => parameter.in === "query").map((parameter) => parameter.name),
    authenticated: (details.security ?? []).length > 0,
    permission: permissions.get(`${method} ${path}`)
  }
})

export const authenticatedOperations = operations.filter((operation) => operation.authenticated)

/** The roles that lack `permission`, with whichever credential kind. */
export const rolesWithout = (permission: Permission, kind: "user" | "api-key" = "user") =>
  Role.literals.filter((role) => !holds({ role, kind, subject: "probe" }, permission))

/** Every RPC with the permission it needs (undefined: any authenticated caller). */
export const rpcs = [...CustomersRpc.requests.values()].map((rpc) => ({
  tag: rpc._tag,
  permission: Option.getOrUndefined(Context.getOption(rpc.annotations, RequiredPermission))
}))

/** A real-looking id no row has: a UUIDv7 of 2024. */
export const unknownId = "0190a6f0-0000-7000-8000-000000000000"

/** The document's path with its parameters filled: ids with `ids.id` (else an unknown id), types with a valid name. */
export const concretePath = (path: string, ids: Partial<Record<string, string>> = {}) =>
  path.replace(/\{(\w+)\}/g, (_, name: string) => ids[name] ?? (name === "type" ? "security_probe" : unknownId))

/**
 * Columns that move without any change of state a caller asked for: the outbox relay marking what it published,
 * an API key's last use (written when a key authenticates, even for a request then refused 403), and the audit
 * sealer linking entries already written into the chain (docs/audit.md).
 */
const volatileColumns = ["published_at", "last_used_at", "chain_seq", "chain_hash", "head_seq", "head_hash"]

/**
 * Every table of the service (cluster bookkeeping aside) as row count and digest of its rows. The audit entries
 * of reads (`customer.read`, `customer.consent.read`) are left out: they record that a read was answered, which
 * is no change of data.
 */
export const databaseFingerprint = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const tables = yield* sql<{ readonly name: string }>`SELECT c.relname AS name FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname NOT LIKE 'cluster\\_%'
    ORDER BY c.relname`
  const fingerprint: Record<string, string> = {}
  for (const { name } of tables) {
    // The name comes from the catalogue, quoted as an identifier; the columns left out are bound.
    const [row] = yield* sql.unsafe<{ readonly rows: number; readonly digest: string | null }>(
      `SELECT count(*)::int AS rows, md5(string_agg(r::text, '|' ORDER BY r::text)) AS digest
       FROM (SELECT to_jsonb(t) - $1::text[] AS r FROM "${name.replaceAll("\"", "\"\"")}" t
         ${name === "audit_log" ? "WHERE t.action NOT IN ('customer.read', 'customer.consent.read')" : ""}) s`,
      [volatileColumns]
    )
    fingerprint[name] = `${row.rows}:${row.digest ?? ""}`
  }
  return fingerprint
}).pipe(Effect.orDie)

/** The fingerprint once background work has settled: two readings 200 ms apart agree. */
export const settledFingerprint = Effect.gen(function*() {
  let previous = yield* databaseFingerprint
  for (let attempt = 0; attempt < 50; attempt++) {
    yield* Effect.sleep("200 millis")
    const next = yield* databaseFingerprint
    if (JSON.stringify(next) === JSON.stringify(previous)) return next
    previous = next
  }
  return previous
})

/** Runs `attack` and asserts that no table of the database changed meanwhile; returns what the attack returned. */
export const changesNothing = <A, E, R>(attack: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = yield* settledFingerprint
    const result = yield* attack
    const after = yield* databaseFingerprint
    const changed = Object.keys({ ...before, ...after }).filter((table) => before[table] !== after[table])
    assert.deepStrictEqual(changed, [], `tables changed: ${changed.join(", ")}`)
    return result
  })
