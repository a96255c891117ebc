/**
 * Verifies the audit chain of the database at DATABASE_URL with AUDIT_KEY (and, with NATS_URL, against the last
 * head published to JetStream): `npm run audit:verify`.
 * Prints the verification as JSON; exits 1 when the chain is broken, 2 when it could not be read. The same
 * check is served at GET /api/v1/audit/verification; this one needs no running service.
 */
import { PgClient } from "@effect/sql-pg"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer, Logger } from "effect"
import { Nats } from "../src/platform/Nats.ts"
import { AuditChain } from "../src/privacy/AuditChain.ts"
import { AuditSigning } from "../src/privacy/AuditSigning.ts"

const database = Layer.unwrap(Effect.map(
  Config.Redacted("DATABASE_URL"),
  (url) => PgClient.layer({ url, maxConnections: 1, applicationName: "audit-verify" })
))

const program = Effect.gen(function*() {
  const chain = yield* AuditChain
  const result = yield* chain.verify
  console.log(JSON.stringify(result, null, 2))
  process.exitCode = result.intact ? 0 : 1
}).pipe(
  // With NATS_URL, the chain is also checked against the last head published to JetStream.
  Effect.provide(AuditChain.layer.pipe(Layer.provide([AuditSigning.layer, Nats.layer]), Layer.provide(database))),
  Effect.tapCause((cause) => Effect.sync(() => {
    console.error("audit-verify: the chain could not be read:", cause.toString())
    process.exitCode = 2
  })),
  Effect.ignore,
  // Standard output is the verification alone.
  Effect.provideService(Logger.LogToStderr, true)
)

NodeRuntime.runMain(program)
