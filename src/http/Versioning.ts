/** Reading the version a REST change is based on, for every versioned resource (segments, destinations). */
import { Effect } from "effect"
import { versionFromEtag } from "../domain/CustomerRules.ts"

/** What a version conflict found in the request itself says. */
export interface RequestedVersionConflict {
  readonly expectedVersion?: number
  readonly detail: string
}

/**
 * As for customers: If-Match or the body's `version`, which must agree when both are sent; `*` or neither is
 * any version (null). An If-Match naming no version, or disagreeing with the body, fails with `conflict`.
 */
export const expectedVersionOf = <E>(conflict: (found: RequestedVersionConflict) => E) =>
  Effect.fnUntraced(function*(ifMatch: string | undefined, bodyVersion: number | undefined) {
    const anyVersion = ifMatch === undefined || ifMatch.trim() === "*"
    const fromHeader = anyVersion ? undefined : versionFromEtag(ifMatch)
    if (!anyVersion && fromHeader === undefined) {
      return yield* Effect.fail(conflict({ detail: "If-Match names no version" }))
    }
    if (fromHeader !== undefined && bodyVersion !== undefined && fromHeader !== bodyVersion) {
      return yield* Effect.fail(conflict({
        expectedVersion: fromHeader,
        detail: `If-Match names version ${fromHeader} and the body's version is ${bodyVersion}`
      }))
    }
    return fromHeader ?? bodyVersion ?? null
  })
