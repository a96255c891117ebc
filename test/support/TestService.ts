/**
 * A running service for one test file: its own database (created here,
 * dropped afterwards), the shared NATS JetStream, a random port, and helpers
 * to call it as any role.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Context, Effect, Layer, Logger, Redacted, References } from "effect"
import { HttpServer } from "effect/http"
import { createServer } from "node:http"
import postgres from "postgres"
import { HttpAppLive, ServicesLive } from "../../src/App.ts"
import { serve } from "../../src/http/Server.ts"
import type { Role } from "../../src/domain/Access.ts"
import { Authenticator } from "../../src/platform/Authenticator.ts"
import { ErrorLoggingLive } from "../../src/platform/ErrorLogging.ts"

export const adminServerUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
export const natsUrl = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222"
export const testJwtSecret = "test-secret-for-the-integration-suite-only"

const databaseUrlFor = (name: string) => {
  const url = new URL(adminServerUrl)
  url.pathname = `/${name}`
  return url.href
}

/** A fresh database, dropped (with any open connections) when the scope closes. */
export const scopedDatabase = Effect.acquireRelease(
  Effect.promise(async () => {
    const name = `cms_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
    const admin = postgres(adminServerUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`CREATE DATABASE ${name}`)
    await admin.end()
    return { name, url: databaseUrlFor(name) }
  }),
  ({ name }) =>
    Effect.promise(async () => {
      const admin = postgres(adminServerUrl, { max: 1, onnotice: () => {} })
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    })
)

/** The key the tested service signs its audit trail with. */
export const testAuditKey = "the test suite's audit key, 32 bytes or more"
/** The key of the tested service's keyed hashes of personal values (src/privacy/BlindIndex.ts). */
export const testBlindIndexKey = "the test suite's blind index key, 32 bytes or more"
/** The key of the tested service's export download links (src/privacy/DataExportJobs.ts). */
export const testExportLinkKey = "the test suite's export link key, 32 bytes or more"
/** The master key wrapping the tested service's per-customer data keys (src/privacy/Keyring.ts). */
export const testMasterKeys = `test1:${Buffer.from("the test suite's master key, 32b").toString("base64")}`

export class TestService extends Context.Service<TestService, {
  readonly baseUrl: string
  readonly databaseUrl: string
  /** A bearer token for a caller with this role. */
  token(role: Role, subject?: string): Effect.Effect<string>
  /** fetch against the service, with the role's bearer token unless `auth: false`. */
  request(path: string, init?: RequestInit & { readonly role?: Role; readonly auth?: boolean }): Effect.Effect<Response>
}>()("test/TestService") {}

export interface TestServiceOptions {
  /** Extra environment for the service, e.g. NATS_URL of a private server; `undefined` unsets a default. */
  readonly env?: Record<string, string | undefined>
  /**
   * Run as `npm start` does with no setup: no DATABASE_URL (the service starts its
   * own PGlite, in memory) and no NATS_URL; `env` may still add either. No test
   * database is created, and `databaseUrl` is "".
   */
  readonly embedded?: boolean
  /** `false`: no NATS_URL, so every event waits in the outbox, as during an outage. */
  readonly nats?: boolean
  /** Every line the service logs, at every level, as the JSON it writes: for tests of what logs must not hold. */
  readonly logLines?: Array<string>
}

/**
 * The whole service, as main.ts runs it, on a random port. Also exposes the
 * PgClient so tests can check what was (or was not) written.
 */
export const testService = (options: TestServiceOptions = {}) =>
  Layer.unwrap(Effect.gen(function*() {
    const database = options.embedded === true ? { url: "" } : yield* scopedDatabase
    const env: Record<string, string | undefined> = {
      ...(options.embedded === true ? { PGLITE_DATA_DIR: "memory" } : { DATABASE_URL: database.url }),
      ...(options.embedded === true || options.nats === false ? {} : { NATS_URL: natsUrl }),
      JWT_SECRET: testJwtSecret,
      AUDIT_KEY: testAuditKey,
      BLIND_INDEX_KEY: testBlindIndexKey,
      MASTER_KEYS: testMasterKeys,
      EXPORT_LINK_KEY: testExportLinkKey,
      ACCESS_LOG: "false",
      DB_POOL_MAX: "8",
      DB_COMMAND_POOL_MAX: "4",
      ...options.env
    }
    const service = Layer.effect(
      TestService,
      Effect.gen(function*() {
        const server = yield* HttpServer.HttpServer
        const authenticator = yield* Authenticator
        const address = server.address
        const baseUrl = "port" in address ? `http://127.0.0.1:${address.port}` : ""
        const token = (role: Role, subject = `test-${role}`) => authenticator.issueToken(subject, role)
        const request = (path: string, init: RequestInit & { readonly role?: Role; readonly auth?: boolean } = {}) =>
          Effect.gen(function*() {
            const headers = new Headers(init.headers)
            if (init.auth !== false) headers.set("authorization", `Bearer ${yield* token(init.role ?? "admin")}`)
            if (init.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json")
            return yield* Effect.promise(() => fetch(baseUrl + path, { ...init, headers }))
          })
        return TestService.of({ baseUrl, databaseUrl: database.url, token, request })
      })
    )
    return service.pipe(
      Layer.provideMerge(serve(HttpAppLive).pipe(Layer.provideMerge(ServicesLive))),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(definedEntries(env)))),
      // The service's own logs only when something is wrong, unless the test reads them all.
      Layer.provide(ErrorLoggingLive),
      Layer.provide(
        options.logLines === undefined
          ? Layer.succeed(References.MinimumLogLevel, "Warn")
          : Layer.merge(
            Logger.layer([Logger.map(Logger.formatJson, (line) => options.logLines?.push(line))]),
            Layer.succeed(References.MinimumLogLevel, "All")
          )
      )
    )
  }))

const definedEntries = (env: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined))

/** A second client to the test database, for assertions independent of the service's pool. */
export const testDatabaseClient = (url: string) => PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })

/** JSON body helper: `yield* json(response)`. */
export const json = <A = unknown>(response: Response) => Effect.promise(() => response.json() as Promise<A>)
