/**
 * The tracking plan in force: registered event types with their properties
 * schemas compiled once (Ajv, JSON Schema 2020-12), checked against every
 * tracked event before it is queued. Each process keeps the plan in memory and
 * reloads it every TRACKING_PLAN_REFRESH (default 5 s), so a change made
 * through another process applies within that; a change made here applies at once.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js"
import addFormatsPlugin from "ajv-formats"
import { Clock, Config, Context, Effect, Layer } from "effect"
import type { Metadata } from "../domain/Customer.ts"
import { EventTypeNotRegistered, InvalidPropertiesSchema } from "../domain/Errors.ts"
import type { PlanViolation } from "../domain/Event.ts"
import {
  maxPropertiesSchemaBytes,
  type PlanMode,
  type RegisteredEventType,
  type RegisterEventType,
  type TrackingPlanTypes
} from "../domain/TrackingPlan.ts"
import { repeatLoggingFailures } from "../platform/BackgroundWork.ts"
import { TrackingPlanRepo } from "./TrackingPlanRepo.ts"

/** What the plan says of one event. */
export type PlanVerdict =
  | { readonly kind: "accepted" }
  | { readonly kind: "unregistered" }
  | { readonly kind: "violates"; readonly mode: PlanMode; readonly violations: ReadonlyArray<PlanViolation> }

const accepted: PlanVerdict = { kind: "accepted" }
const unregistered: PlanVerdict = { kind: "unregistered" }

/** Enough to fix an event; a schema broken everywhere would otherwise answer with hundreds of lines. */
const maxViolations = 10

// ajv-formats is CommonJS: its function arrives as the default export or as the module itself.
const addFormats = ((addFormatsPlugin as unknown as { default?: unknown }).default ?? addFormatsPlugin) as (
  ajv: Ajv2020
) => Ajv2020

/** `/items/0/sku` as `properties.items.0.sku`; the missing or extra property named where Ajv reports one. */
const fieldOf = (error: ErrorObject): string => {
  const path = error.instancePath.split("/").slice(1).map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
  const named = error.params as { readonly missingProperty?: string; readonly additionalProperty?: string }
  const property = named.missingProperty ?? named.additionalProperty
  return ["properties", ...path, ...(property === undefined ? [] : [property])].join(".")
}

const violationsOf = (errors: ReadonlyArray<ErrorObject>): ReadonlyArray<PlanViolation> =>
  errors.slice(0, maxViolations).map((error) => ({ field: fieldOf(error), message: error.message ?? error.keyword }))

interface CompiledType {
  readonly version: number
  readonly mode: PlanMode
  readonly validate: ValidateFunction
  readonly personalProperties: ReadonlyArray<string>
}

const noPersonalProperties: ReadonlyArray<string> = []

export class TrackingPlan extends Context.Service<TrackingPlan, {
  readonly list: Effect.Effect<TrackingPlanTypes>
  get(type: string): Effect.Effect<RegisteredEventType, EventTypeNotRegistered>
  register(type: string, definition: RegisterEventType): Effect.Effect<RegisteredEventType, InvalidPropertiesSchema>
  remove(type: string): Effect.Effect<void, EventTypeNotRegistered>
  /** The plan's verdict on an event of `type` with these properties (none sent: an empty object). */
  check(type: string, properties: Metadata | undefined): PlanVerdict
  /** The top-level properties the plan marks personal for `type` (none for an unregistered type). */
  personalProperties(type: string): ReadonlyArray<string>
}>()("cms/events/TrackingPlan") {
  static readonly layer = Layer.effect(
    TrackingPlan,
    Effect.gen(function*() {
      const repo = yield* TrackingPlanRepo
      const unregisteredTypes = yield* Config.Literals(["allow", "refuse"], "TRACKING_PLAN_UNREGISTERED").pipe(
        Config.withDefault("allow" as const)
      )
      const refreshEvery = yield* Config.Duration("TRACKING_PLAN_REFRESH").pipe(Config.withDefault("5 seconds"))
      // `$id`s of registered schemas are not added to Ajv's registry: two plans' schemas never collide.
      const ajv = addFormats(new Ajv2020({ strict: true, allErrors: true, addUsedSchema: false }))

      const compile = (schema: RegisterEventType["propertiesSchema"]) =>
        Effect.gen(function*() {
          const size = new TextEncoder().encode(JSON.stringify(schema)).length
          if (size > maxPropertiesSchemaBytes) {
            return yield* new InvalidPropertiesSchema({
              field: "propertiesSchema",
              detail: `The schema is ${size} bytes as JSON; the limit is ${maxPropertiesSchemaBytes}`
            })
          }
          if (!ajv.validateSchema(schema)) {
            const [first] = ajv.errors ?? []
            return yield* new InvalidPropertiesSchema({
              field: ["propertiesSchema", ...(first?.instancePath.split("/").slice(1) ?? [])].join("."),
              detail: first?.message ?? "not a JSON Schema (draft 2020-12)"
            })
          }
          return yield* Effect.try({
            try: () => ajv.compile(schema),
            // Strict mode: unknown keywords, unresolvable `$ref`s, contradictory types.
            catch: (error) =>
              new InvalidPropertiesSchema({
                field: "propertiesSchema",
                detail: error instanceof Error ? error.message : String(error)
              })
          })
        })

      let compiled = new Map<string, CompiledType>()

      /** Reloads the plan, compiling only registrations that changed since the last load. */
      const reload = Effect.gen(function*() {
        const types = yield* repo.list
        const next = new Map<string, CompiledType>()
        for (const registered of types) {
          const current = compiled.get(registered.type)
          if (current !== undefined && current.version === registered.version) {
            next.set(registered.type, current)
            continue
          }
          // A schema stored by a newer version of the service that this one cannot compile is not silently
          // skipped: the reload fails and is logged, and the previous plan stays in force.
          const validate = yield* compile(registered.propertiesSchema)
          next.set(registered.type, {
            version: registered.version,
            mode: registered.mode,
            validate,
            personalProperties: registered.personalProperties
          })
        }
        compiled = next
      })
      yield* reload.pipe(Effect.orDie)
      yield* Effect.forkScoped(
        Effect.delay(repeatLoggingFailures("tracking plan: reload failed", refreshEvery, reload), refreshEvery)
      )

      const notRegistered = (type: string) =>
        new EventTypeNotRegistered({ field: "type", detail: `No event type '${type}' in the tracking plan` })

      return TrackingPlan.of({
        list: Effect.map(repo.list, (types) => ({ unregisteredTypes, types })),
        get: (type) =>
          Effect.flatMap(
            repo.find(type),
            (found) => found === undefined ? Effect.fail(notRegistered(type)) : Effect.succeed(found)
          ),
        register: Effect.fn("TrackingPlan.register")(function*(type, definition) {
          const validate = yield* compile(definition.propertiesSchema)
          const saved = yield* repo.save(type, definition, new Date(yield* Clock.currentTimeMillis))
          compiled = new Map(compiled).set(type, {
            version: saved.version,
            mode: saved.mode,
            validate,
            personalProperties: saved.personalProperties
          })
          return saved
        }),
        remove: Effect.fn("TrackingPlan.remove")(function*(type) {
          if (!(yield* repo.remove(type))) return yield* notRegistered(type)
          const next = new Map(compiled)
          next.delete(type)
          compiled = next
        }),
        check: (type, properties) => {
          const registered = compiled.get(type)
          if (registered === undefined) return unregisteredTypes === "allow" ? accepted : unregistered
          if (registered.validate(properties ?? {})) return accepted
          return { kind: "violates", mode: registered.mode, violations: violationsOf(registered.validate.errors ?? []) }
        },
        personalProperties: (type) => compiled.get(type)?.personalProperties ?? noPersonalProperties
      })
    })
  )
}

