/**
 * A secret key from configuration (Redacted). A local start may run on a published development key and is
 * warned; a production start (NODE_ENV=production) refuses it or a key shorter than `minimumBytes`.
 */
import { Config, Effect, Option, Redacted } from "effect"

export interface KeyRequirement {
  /** The environment variable. */
  readonly name: string
  /** What a local start uses when the variable is not set; never accepted in production. */
  readonly developmentKey: string
  readonly minimumBytes: number
  /** What the key protects, for the warning. */
  readonly purpose: string
}

/** Dies when NODE_ENV=production and the key is the development key or too short. */
export const refusedInProduction = (
  requirement: Omit<KeyRequirement, "purpose">,
  key: string
) =>
  Effect.gen(function*() {
    const production = yield* Config.String("NODE_ENV").pipe(
      Config.map((env) => env === "production"),
      Config.withDefault(false)
    )
    if (production && (key === requirement.developmentKey || Buffer.byteLength(key) < requirement.minimumBytes)) {
      return yield* Effect.die(
        new Error(`${requirement.name} must be set to at least ${requirement.minimumBytes} random bytes when NODE_ENV=production`)
      )
    }
  })

export const configuredKey = (requirement: KeyRequirement) =>
  Effect.gen(function*() {
    const configured = yield* Config.Redacted(requirement.name).pipe(Config.option)
    const key = Option.match(configured, { onNone: () => requirement.developmentKey, onSome: Redacted.value })
    yield* refusedInProduction(requirement, key)
    if (Option.isNone(configured)) {
      yield* Effect.logWarning(
        `${requirement.purpose}: ${requirement.name} not set, using the development key (never in production)`
      )
    }
    return key
  })
