/** The tracking_plan table: one row per registered event type. */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer } from "effect"
import type { Json } from "effect/Schema"
import type { PlanMode, RegisteredEventType, RegisterEventType } from "../domain/TrackingPlan.ts"

interface PlanRow {
  readonly type: string
  readonly description: string | null
  readonly properties_schema: { readonly [key: string]: Json }
  readonly mode: PlanMode
  readonly personal_properties: ReadonlyArray<string>
  readonly version: number
  readonly created_at: Date
  readonly updated_at: Date
}

const columns = "type, description, properties_schema, mode, personal_properties, version, created_at, updated_at"

const toRegistered = (row: PlanRow): RegisteredEventType => ({
  type: row.type,
  ...(row.description === null ? {} : { description: row.description }),
  propertiesSchema: row.properties_schema,
  mode: row.mode,
  personalProperties: row.personal_properties,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString()
})

export class TrackingPlanRepo extends Context.Service<TrackingPlanRepo, {
  readonly list: Effect.Effect<ReadonlyArray<RegisteredEventType>>
  find(type: string): Effect.Effect<RegisteredEventType | undefined>
  /** Registers the type, or replaces its registration (its version counts up). */
  save(type: string, definition: RegisterEventType, now: Date): Effect.Effect<RegisteredEventType>
  /** Whether there was a registration to remove. */
  remove(type: string): Effect.Effect<boolean>
}>()("cms/events/TrackingPlanRepo") {
  static readonly layer = Layer.effect(
    TrackingPlanRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      return TrackingPlanRepo.of({
        list: sql<PlanRow>`SELECT ${sql.unsafe(columns)} FROM tracking_plan ORDER BY type`.pipe(
          Effect.map((rows) => rows.map(toRegistered)),
          Effect.orDie
        ),
        find: (type) =>
          sql<PlanRow>`SELECT ${sql.unsafe(columns)} FROM tracking_plan WHERE type = ${type}`.pipe(
            Effect.map(([row]) => row === undefined ? undefined : toRegistered(row)),
            Effect.orDie
          ),
        save: (type, definition, now) =>
          sql<PlanRow>`INSERT INTO tracking_plan (type, description, properties_schema, mode, personal_properties, created_at,
              updated_at)
            VALUES (${type}, ${definition.description ?? null}, ${JSON.stringify(definition.propertiesSchema)}::jsonb,
              ${definition.mode}, ${definition.personalProperties ?? []}::text[], ${now}, ${now})
            ON CONFLICT (type) DO UPDATE SET description = excluded.description,
              properties_schema = excluded.properties_schema, mode = excluded.mode,
              personal_properties = excluded.personal_properties,
              version = tracking_plan.version + 1, updated_at = excluded.updated_at
            RETURNING ${sql.unsafe(columns)}`.pipe(Effect.map(([row]) => toRegistered(row)), Effect.orDie),
        remove: (type) =>
          sql`DELETE FROM tracking_plan WHERE type = ${type} RETURNING type`.pipe(
            Effect.map((rows) => rows.length > 0),
            Effect.orDie
          )
      })
    })
  )
}
