/** The audit trail as the API shows it: a customer's entries, and whether the chain verifies. */
import { Schema } from "effect"
import { Role } from "./Access.ts"
import { Timestamp } from "./Customer.ts"
import { CustomerNotFound, Forbidden } from "./Errors.ts"
import { PageLimit } from "./Paging.ts"

/** An entry's number in the table, as text (it outgrows a JSON number's exact range). */
export const EntryNumber = Schema.String.check(Schema.isPattern(/^[1-9][0-9]{0,18}$/u))

export const AuditEntryView = Schema.Struct({
  id: EntryNumber.annotate({ description: "The entry's number in the table" }),
  at: Timestamp,
  actor: Schema.String.annotate({ description: "`user:<subject>`, `api-key:<id>` or `system:<job>`" }),
  actorRole: Role,
  action: Schema.String.annotate({ description: "What was done, e.g. `customer.updated`" }),
  fields: Schema.Array(Schema.String).annotate({ description: "The names of the fields concerned, never their values" }),
  requestId: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String).annotate({ description: "Why, where the caller said" }),
  sealed: Schema.Boolean.annotate({
    description: "Whether the entry is linked into the chain yet (entries are sealed within seconds of their commit)"
  })
}).annotate({ identifier: "AuditEntry", description: "One audited action" })
export type AuditEntryView = typeof AuditEntryView.Type

export const auditPageSize = { default: 50, maximum: 500 } as const

export const CustomerAuditQuery = Schema.Struct({
  limit: Schema.optionalKey(PageLimit("Entries", auditPageSize.maximum, auditPageSize.default)),
  cursor: Schema.optionalKey(EntryNumber.annotate({ description: "The previous page's nextCursor" }))
}).annotate({ identifier: "CustomerAuditQuery" })
export type CustomerAuditQuery = typeof CustomerAuditQuery.Type

export const CustomerAuditPage = Schema.Struct({
  data: Schema.Array(AuditEntryView),
  nextCursor: Schema.NullOr(EntryNumber)
}).annotate({ identifier: "CustomerAuditPage", description: "A customer's audit entries, newest first" })
export type CustomerAuditPage = typeof CustomerAuditPage.Type

export const AuditBreak = Schema.Struct({
  seq: Schema.String.annotate({ description: "The chain position where verification failed" }),
  kind: Schema.Literals(["entry-altered", "link-broken", "entry-missing", "head-mismatch"]).annotate({
    description: "entry-altered: an entry's content no longer matches its signature; link-broken: its link does " +
      "not follow from the previous one; entry-missing: a position of the chain is gone; head-mismatch: the " +
      "chain ends before or after the head the sealer recorded"
  })
}).annotate({ identifier: "AuditBreak" })

export const AuditAnchorCheck = Schema.Struct({
  seq: Schema.String.annotate({ description: "The chain position of the last head published to JetStream" }),
  matches: Schema.Boolean.annotate({ description: "Whether the chain still holds that head at that position" })
}).annotate({ identifier: "AuditAnchorCheck", description: "The chain checked against its last head published outside the database" })

export const AuditVerification = Schema.Struct({
  intact: Schema.Boolean,
  sealedEntries: Schema.Number,
  unsealedEntries: Schema.Number.annotate({ description: "Entries committed but not yet linked into the chain" }),
  refusedEntries: Schema.Number.annotate({
    description: "Entries whose signature was wrong when the sealer met them (forged rows): never sealed"
  }),
  firstBreak: Schema.NullOr(AuditBreak),
  anchor: Schema.NullOr(AuditAnchorCheck).annotate({
    description: "Null when no head was published yet or NATS is not configured"
  }),
  verifiedAt: Timestamp
}).annotate({ identifier: "AuditVerification", description: "The result of walking the whole audit chain" })
export type AuditVerification = typeof AuditVerification.Type

export const AuditErrors = [Forbidden] as const
export const CustomerAuditErrors = [CustomerNotFound, Forbidden] as const
