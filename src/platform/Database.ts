/**
 * The PostgreSQL client, migrated at start-up. With DATABASE_URL (or the
 * spec's DATABASE_DSN) it pools connections to that server; without, it starts
 * an embedded PGlite and serves it on a loopback socket, so the same client
 * and SQL run in both cases.
 */
import { PGlite } from "@electric-sql/pglite"
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm"
import { NodeServices } from "@effect/platform-node"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { Config, Context, Effect, Exit, Layer, Option, Redacted, Request, RequestResolver } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient, type SqlError, type Statement } from "effect/sql"
import { serveEmbedded } from "./EmbeddedPostgres.ts"
import { mkdir, readdir, readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"

const migrationsDirectory = fileURLToPath(new URL("../../migrations/", import.meta.url))

/**
 * Writes that belong together, sent as one statement (each a data-modifying
 * `WITH` query): atomic without a transaction, and one round trip. For writes
 * whose values are all known beforehand; they cannot see one another's rows.
 * `first`, an expression the statement selects, is evaluated once, before the
 * writes run (PostgreSQL runs unreferenced data-modifying `WITH` queries after
 * the main query): a check that must see what committed after the statement began.
 */
export const inOneStatement = (
  sql: SqlClient.SqlClient,
  writes: ReadonlyArray<Statement.Statement<unknown>>,
  first: Statement.Fragment = sql`1`
) =>
  sql`WITH ${sql.csv(writes.map((write, index) => sql`${sql.literal(`write_${index}`)} AS (${write})`))} SELECT ${first}`

/** Byte strings (digests) as one bytea[] expression: the driver sends them as hex text. */
export const byteaArray = (sql: SqlClient.SqlClient, values: ReadonlyArray<Uint8Array>) =>
  sql`ARRAY(SELECT decode(value, 'hex') FROM unnest(${values.map((value) => Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex"))}::text[]) AS value)`

/** What a guarded statement names its guard: the writes that depend on it select `FROM` this name. */
export const guardName = "guarded"

/**
 * A conditional write and the writes that follow from it, as one statement: the guard (an UPDATE ...
 * WHERE <condition> RETURNING ...) runs as `guarded`, the others read `FROM guarded` (see `guardName`), so
 * when the guard matches no row nothing at all is written. Succeeds with whether the guard matched.
 */
export const guardedStatement = (
  sql: SqlClient.SqlClient,
  guard: Statement.Statement<unknown>,
  dependents: ReadonlyArray<Statement.Statement<unknown>>
) =>
  guardedTogether(sql, [{ guard, dependents: () => dependents }], () => guardName).pipe(
    Effect.map(([matched]) => matched)
  )

/** A guarded write whose dependents select from the guard name they are given, so several fit in one statement. */
export interface GuardedWrite {
  readonly guard: Statement.Statement<unknown>
  readonly dependents: (guard: string) => ReadonlyArray<Statement.Statement<unknown>>
}

/**
 * Guarded writes as one statement, each guard under its own name: atomic together, and each write's
 * dependents happen only when its own guard matched. Succeeds with whether each guard matched.
 */
const guardedTogether = (
  sql: SqlClient.SqlClient,
  writes: ReadonlyArray<GuardedWrite>,
  nameOf: (index: number) => string = (index) => `${guardName}_${index}`
) =>
  sql<{ readonly write: number }>`WITH ${
    sql.csv(writes.flatMap((write, index) => [
      sql`${sql.literal(nameOf(index))} AS (${write.guard})`,
      ...write.dependents(nameOf(index)).map((dependent, position) =>
        sql`${sql.literal(`write_${index}_${position}`)} AS (${dependent})`
      )
    ]))
  } ${sql.literal(writes.map((_, index) => `SELECT ${index} AS write FROM ${nameOf(index)}`).join(" UNION ALL "))}`.pipe(
    Effect.map((rows) => {
      const matched = new Set(rows.map((row) => Number(row.write)))
      return writes.map((_, index) => matched.has(index))
    })
  )

/** Commands' writes committed together, at most this many (a few dozen parameters each, far below 65,535). */
const maxWritesPerStatement = 100

/**
 * Writes of commands running at the same time, grouped into one statement by `together` (which answers each
 * request, in order): one round trip and one commit for the group instead of one each. Every command is
 * answered after that commit. Should the group's statement fail (a unique index, a deadlock), each request is
 * run alone, so only the one at fault fails.
 */
export const groupedWrites = <R extends Request.Request<unknown, unknown, never>>(
  together: (requests: ReadonlyArray<R>) => Effect.Effect<ReadonlyArray<Request.Success<R>>, Request.Error<R>>
) => {
  const alone = (entry: Request.Entry<R>) =>
    Effect.exit(together([entry.request])).pipe(
      Effect.map((exit) => entry.completeUnsafe(Exit.map(exit, ([answer]) => answer)))
    )
  return RequestResolver.batchN(
    RequestResolver.make<R>((entries) =>
      entries.length === 1
        ? alone(entries[0])
        : Effect.exit(together(entries.map((entry) => entry.request))).pipe(
          Effect.flatMap((exit) =>
            Exit.isSuccess(exit)
              ? Effect.sync(() => entries.forEach((entry, index) => entry.completeUnsafe(Exit.succeed(exit.value[index]))))
              : Effect.forEach(entries, alone, { discard: true })
          )
        )
    ),
    maxWritesPerStatement
  )
}

class GuardedWriteRequest extends Request.Class<{ readonly write: GuardedWrite }, boolean, SqlError.SqlError> {}

/**
 * Guarded writes of commands running at the same time share one statement (see `groupedWrites`). Each stays
 * atomic: its guard and dependents commit together or not at all.
 */
export class GroupedWrites extends Context.Service<GroupedWrites, {
  guarded(write: GuardedWrite): Effect.Effect<boolean, SqlError.SqlError>
}>()("cms/platform/GroupedWrites") {
  static readonly layer = Layer.effect(
    GroupedWrites,
    Effect.gen(function*() {
      const sql = yield* CommandSql
      const together = groupedWrites((requests: ReadonlyArray<GuardedWriteRequest>) =>
        guardedTogether(sql, requests.map((request) => request.write))
      )
      return GroupedWrites.of({
        guarded: (write) => Effect.request(new GuardedWriteRequest({ write }), together)
      })
    })
  )
}

/**
 * The driver speaks only the extended protocol (one statement per query), so a
 * file is split at top-level semicolons that end a line; `$$` bodies are kept whole.
 */
export const splitStatements = (text: string): Array<string> => {
  const statements: Array<string> = []
  let current: Array<string> = []
  let inBody = false
  for (const line of text.split("\n")) {
    if (line.trim().startsWith("--") && !inBody) continue
    current.push(line)
    if ((line.match(/\$\$/g)?.length ?? 0) % 2 === 1) inBody = !inBody
    if (!inBody && line.trimEnd().endsWith(";")) {
      statements.push(current.join("\n").trim())
      current = []
    }
  }
  const rest = current.join("\n").trim()
  if (rest.length > 0) statements.push(rest)
  return statements
}

/** Numbered `.sql` files, each applied once in one transaction by the migrator. */
const sqlFileLoader = Effect.tryPromise({
  try: async () => {
    const files = (await readdir(migrationsDirectory)).filter((file) => /^\d+_.+\.sql$/.test(file))
    return Promise.all(files.map(async (file) => {
      const [, id, name] = /^(\d+)_(.+)\.sql$/.exec(file)!
      const text = await readFile(migrationsDirectory + file, "utf8")
      const run = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        for (const statement of splitStatements(text)) yield* sql.unsafe(statement)
      })
      return [Number(id), name, Effect.succeed(run)] as const
    }))
  },
  catch: (cause) => new PgMigrator.MigrationError({ kind: "Failed", message: "Cannot read migrations", cause })
})

const migrate = PgMigrator.layer({ loader: sqlFileLoader }).pipe(Layer.provide(NodeServices.layer))

const poolSettings = {
  maxConnections: Config.Int("DB_POOL_MAX").pipe(Config.withDefault(20)),
  multiplex: Config.Boolean("DB_MULTIPLEX").pipe(Config.withDefault(true)),
  commandConnections: Config.Int("DB_COMMAND_POOL_MAX").pipe(Config.withDefault(20)),
  commandPipeline: Config.Int("DB_COMMAND_PIPELINE").pipe(Config.withDefault(4))
}

/**
 * The client for commands' one-statement writes (`inOneStatement`, `guardedStatement`), apart from the
 * queries' pool. A statement that commits waits for its WAL flush, and every statement pipelined behind it on
 * its connection waits too: on the queries' pool (32 a connection) 50 concurrent updates ran on two
 * connections, one commit at a time each. Here a connection pipelines at most DB_COMMAND_PIPELINE (4)
 * statements, so concurrent commits spread over the connections and share flushes (group commit), while a
 * few still wait at the server instead of a round trip away.
 */
export class CommandSql extends Context.Service<CommandSql, SqlClient.SqlClient>()("cms/platform/CommandSql") {}

const serverClient = (url: Redacted.Redacted) =>
  Layer.unwrap(Effect.gen(function*() {
    const maxConnections = yield* poolSettings.maxConnections
    const multiplex = yield* poolSettings.multiplex
    const commandConnections = yield* poolSettings.commandConnections
    const commandPipeline = yield* poolSettings.commandPipeline
    yield* Effect.logInfo("database: PostgreSQL").pipe(Effect.annotateLogs({ host: new URL(Redacted.value(url)).host }))
    const commands = Layer.effect(
      CommandSql,
      PgClient.make({
        url,
        maxConnections: commandConnections,
        multiplex: commandPipeline > 1,
        multiplexConcurrency: commandPipeline,
        applicationName: "customer-service-commands"
      })
    ).pipe(Layer.provide(Reactivity.layer))
    return Layer.merge(
      PgClient.layer({ url, maxConnections, multiplex, applicationName: "customer-service" }),
      commands
    )
  }))

/** An in-process PGlite, stopped with the layer. Data persists in PGLITE_DATA_DIR unless it is "memory". */
const embeddedClient = Layer.unwrap(Effect.gen(function*() {
  const dataDir = yield* Config.String("PGLITE_DATA_DIR").pipe(Config.withDefault(".data/pglite"))
  yield* Effect.logInfo("database: embedded PGlite (no DATABASE_URL set)").pipe(Effect.annotateLogs({
    dataDir,
    hint: "set DATABASE_URL to use a PostgreSQL server"
  }))
  const context = yield* Effect.context<never>()
  const backendFailed = (error: unknown) =>
    Effect.runForkWith(context)(Effect.logError("database: the embedded PGlite failed", error))
  const { port } = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      if (dataDir !== "memory") await mkdir(dataDir, { recursive: true })
      const db = await PGlite.create({
        ...(dataDir === "memory" ? {} : { dataDir }),
        extensions: { pg_trgm }
      })
      return { db, ...(await serveEmbedded(db, backendFailed)) }
    }),
    ({ close, db }) => Effect.promise(async () => {
      await close()
      await db.close()
    })
  )
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  // Unmultiplexed already: commands share its few connections.
  return Layer.effect(CommandSql, PgClient.PgClient).pipe(
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 4, multiplex: false }))
  )
}))

const databaseUrl = Config.Redacted("DATABASE_URL").pipe(
  Config.orElse(() => Config.Redacted("DATABASE_DSN")),
  Config.option
)

export const DatabaseLive: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | CommandSql, unknown> = Layer.unwrap(
  Effect.map(databaseUrl, Option.match({ onNone: () => embeddedClient, onSome: serverClient }))
).pipe((client) => Layer.provideMerge(migrate, client))
