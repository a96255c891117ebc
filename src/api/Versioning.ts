/**
 * How a change names the version it is based on, on both doors, for every versioned resource (customers,
 * segments): REST's If-Match header (an ETag `"v3"`, or `*`) and RPC's `expectedVersion`.
 */
import { Schema } from "effect"

export const IfMatch = {
  "if-match": Schema.optionalKey(
    Schema.String.check(Schema.isMaxLength(64)).annotate({
      description:
        "The ETag of the version the change is based on (`\"v3\"`), or `*`. A stale or unreadable tag answers 412.",
      examples: ["\"v1\""]
    })
  )
}

export const ExpectedVersion = Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
