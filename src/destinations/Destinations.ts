/**
 * Segment destinations as both doors (REST and RPC) use them: permissions, the
 * URL rules (http or https, no credentials, no private network: SSRF is the
 * classic abuse of webhooks), the segment a destination names, signing secrets
 * (shown once, rotated with a grace period), and dead letters and their replay.
 */
import { Clock, Config, Context, Duration, Effect, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import type { Actor, CommandOptions } from "../domain/Access.ts"
import { requirePermission } from "../domain/Access.ts"
import {
  type CreateDestination,
  type CreatedDestination,
  type DeadLetterPage,
  type DeadLettersQuery,
  type DeliveryStatus,
  type Destination,
  type DestinationId,
  type DestinationPage,
  type ListDestinationsQuery,
  type ReplayDeadLetters,
  type ReplayResult,
  type RotatedSecret,
  type DestinationChanges
} from "../domain/Destination.ts"
import {
  type CreateDestinationErrors,
  type DeadLettersErrors,
  type DeleteDestinationErrors,
  DestinationNotFound,
  DestinationSegmentNotFound,
  DestinationVersionConflict,
  type ErrorOf,
  type GetDestinationErrors,
  InvalidDestinationUrl,
  type ReplayDeadLettersErrors,
  type RotateDestinationSecretErrors,
  type UpdateDestinationErrors
} from "../domain/Errors.ts"
import type { SegmentId } from "../domain/SegmentCriteria.ts"
import { uuidv7 } from "../platform/Ids.ts"
import { urlRefusal } from "../platform/OutboundHttp.ts"
import { AuditLog } from "../privacy/AuditLog.ts"
import { type GuardedOutcome, SegmentRepo } from "../segments/SegmentRepo.ts"
import { DestinationRepo } from "./DestinationRepo.ts"

/** Whether destinations may be on loopback and private networks: only where the service's own network is safe. */
export const allowPrivateNetworks = Config.Boolean("DESTINATIONS_ALLOW_PRIVATE_NETWORKS").pipe(Config.withDefault(false))

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64, as the specification suggests (24 to 64). */
const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`

const noDeliveriesYet: DeliveryStatus = {
  pending: 0,
  delivered: 0,
  dead: 0,
  erased: 0,
  lastSuccessAt: null,
  lastFailureAt: null,
  lastHttpStatus: null,
  lastError: null,
  consecutiveFailures: 0,
  failingSince: null,
  autoDisabledAt: null
}

export class Destinations extends Context.Service<Destinations, {
  list(actor: Actor, query: ListDestinationsQuery): Effect.Effect<DestinationPage>
  get(actor: Actor, id: DestinationId): Effect.Effect<Destination, ErrorOf<typeof GetDestinationErrors>>
  create(
    options: CommandOptions & { readonly input: CreateDestination }
  ): Effect.Effect<CreatedDestination, ErrorOf<typeof CreateDestinationErrors>>
  /** Only the fields given change; `expectedVersion` null: whatever the version. */
  update(
    options: CommandOptions & {
      readonly id: DestinationId
      readonly update: DestinationChanges
      readonly expectedVersion: number | null
    }
  ): Effect.Effect<Destination, ErrorOf<typeof UpdateDestinationErrors>>
  delete(
    options: CommandOptions & { readonly id: DestinationId; readonly expectedVersion: number | null }
  ): Effect.Effect<void, ErrorOf<typeof DeleteDestinationErrors>>
  rotateSecret(
    options: CommandOptions & { readonly id: DestinationId }
  ): Effect.Effect<RotatedSecret, ErrorOf<typeof RotateDestinationSecretErrors>>
  deadLetters(
    actor: Actor,
    id: DestinationId,
    query: DeadLettersQuery
  ): Effect.Effect<DeadLetterPage, ErrorOf<typeof DeadLettersErrors>>
  replay(
    options: CommandOptions & { readonly id: DestinationId; readonly input: ReplayDeadLetters }
  ): Effect.Effect<ReplayResult, ErrorOf<typeof ReplayDeadLettersErrors>>
}>()("cms/destinations/Destinations") {
  static readonly layer: Layer.Layer<Destinations, Config.ConfigError, DestinationRepo | SegmentRepo | AuditLog> =
    Layer.effect(
      Destinations,
      Effect.gen(function*() {
        const repo = yield* DestinationRepo
        const segments = yield* SegmentRepo
        const audit = yield* AuditLog
        const allowPrivate = yield* allowPrivateNetworks
        const rotationGrace = Duration.hours(
          yield* Config.Number("DESTINATION_SECRET_ROTATION_GRACE_HOURS").pipe(Config.withDefault(24))
        )

        const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

        const found = (id: DestinationId) =>
          Effect.flatMap(repo.findById(id), Option.match({
            onNone: () => Effect.fail(new DestinationNotFound({ destinationId: id })),
            onSome: Effect.succeed
          }))

        const checkUrl = Effect.fnUntraced(function*(url: string) {
          const refusal = yield* urlRefusal(url, allowPrivate)
          if (refusal !== undefined) return yield* new InvalidDestinationUrl({ field: "url", detail: `The URL ${refusal}` })
        })

        const checkSegment = Effect.fnUntraced(function*(segmentId: SegmentId | null) {
          if (segmentId === null) return
          const existing = yield* segments.existing([segmentId])
          if (!existing.has(segmentId)) {
            return yield* new DestinationSegmentNotFound({ field: "segmentId", detail: `No segment ${segmentId}` })
          }
        })

        /** A guarded write's outcome as the caller sees it. */
        const guarded = <A>(id: DestinationId, expectedVersion: number | null, outcome: GuardedOutcome<A>) => {
          switch (outcome._tag) {
            case "Done":
              return Effect.succeed(outcome.value)
            case "NotFound":
              return Effect.fail(new DestinationNotFound({ destinationId: id }))
            case "Stale":
              return Effect.fail(
                new DestinationVersionConflict({
                  ...(expectedVersion === null ? {} : { expectedVersion }),
                  currentVersion: outcome.currentVersion
                })
              )
          }
        }

        const entry = (options: CommandOptions, action: string, destinationId: string, fields: ReadonlyArray<string>) =>
          audit.recordStatement({
            actor: options.actor,
            action,
            destinationId,
            requestId: options.requestId,
            fields
          })

        return Destinations.of({
          // Every role reads (see Access.ts): authentication was the whole check.
          list: Effect.fn("Destinations.list")(function*(_actor, query) {
            return yield* repo.list(query)
          }),

          get: Effect.fn("Destinations.get")(function*(_actor, id) {
            return yield* found(id)
          }),

          create: Effect.fn("Destinations.create")(function*(options) {
            const { input } = options
            yield* requirePermission(options.actor, "segments:manage")
            yield* checkUrl(input.url)
            const segmentId = input.segmentId ?? null
            yield* checkSegment(segmentId)
            const id = uuidv7() as DestinationId
            const secret = newSecret()
            const at = yield* now
            const enabled = input.enabled ?? true
            // Not stated: the owner's own system or its processor (docs/privacy.md, "Enforcement").
            const thirdParty = input.thirdParty ?? false
            yield* repo.insert(
              { id, name: input.name, url: input.url, segmentId, enabled, thirdParty, secret, at },
              entry(options, "destination.create", id, Object.keys(input))
            )
            return {
              id,
              name: input.name,
              url: input.url,
              segmentId,
              enabled,
              thirdParty,
              version: 1,
              createdAt: at.toISOString(),
              updatedAt: at.toISOString(),
              status: noDeliveriesYet,
              secret
            }
          }),

          update: Effect.fn("Destinations.update")(function*(options) {
            const { expectedVersion, id, update } = options
            yield* requirePermission(options.actor, "segments:manage")
            if (update.url !== undefined) yield* checkUrl(update.url)
            if (update.segmentId !== undefined) yield* checkSegment(update.segmentId)
            const fields = Object.keys(update)
            if (fields.length === 0) {
              const current = yield* found(id)
              if (expectedVersion !== null && current.version !== expectedVersion) {
                return yield* new DestinationVersionConflict({ expectedVersion, currentVersion: current.version })
              }
              return current
            }
            const outcome = yield* repo.update(
              id,
              expectedVersion,
              update,
              yield* now,
              entry(options, "destination.update", id, fields)
            )
            return yield* guarded(id, expectedVersion, outcome)
          }),

          delete: Effect.fn("Destinations.delete")(function*(options) {
            yield* requirePermission(options.actor, "segments:manage")
            const outcome = yield* repo.delete(
              options.id,
              options.expectedVersion,
              entry(options, "destination.delete", options.id, [])
            )
            return yield* guarded(options.id, options.expectedVersion, outcome)
          }),

          rotateSecret: Effect.fn("Destinations.rotateSecret")(function*(options) {
            yield* requirePermission(options.actor, "segments:manage")
            const at = yield* now
            const secret = newSecret()
            const previousSecretExpiresAt = new Date(at.getTime() + Duration.toMillis(rotationGrace))
            const rotated = yield* repo.rotateSecret(
              options.id,
              secret,
              previousSecretExpiresAt,
              at,
              entry(options, "destination.rotate-secret", options.id, ["secret"])
            )
            if (!rotated) return yield* new DestinationNotFound({ destinationId: options.id })
            return { secret, previousSecretExpiresAt: previousSecretExpiresAt.toISOString() }
          }),

          deadLetters: Effect.fn("Destinations.deadLetters")(function*(_actor, id, query) {
            yield* found(id)
            return yield* repo.deadLetters(id, query)
          }),

          replay: Effect.fn("Destinations.replay")(function*(options) {
            yield* requirePermission(options.actor, "segments:manage")
            yield* found(options.id)
            const replayed = yield* repo.replay(
              options.id,
              options.input.ids,
              yield* now,
              entry(options, "destination.replay", options.id, Object.keys(options.input))
            )
            return { replayed }
          })
        })
      })
    )
}
