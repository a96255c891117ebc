/** The list endpoint's contract: filters, sort, keyset cursor, field selection. */
import { Schema, SchemaTransformation, Struct } from "effect"
import { fieldAccessDescription } from "./Access.ts"
import { Age, Customer, customerModel, CustomerStatus, isStorableText, Tag } from "./Customer.ts"
import { InstantText } from "./Instant.ts"
import { CountryCode } from "./Reference.ts"
import { PageLimit } from "./Paging.ts"

/**
 * Name and email are sealed at rest (docs/privacy.md), so the database cannot order by them: the sorts are by
 * the service's timestamps only.
 */
export const SortField = Schema.Literals(["createdAt", "updatedAt", "lastActivity"])
export type SortField = typeof SortField.Type

/** `createdAt` ascending, `-createdAt` descending. */
export const Sort = Schema.Literals(SortField.literals.flatMap((field) => [field, `-${field}`] as const)).annotate({
  identifier: "CustomerSort"
})
export type Sort = typeof Sort.Type

export const CustomerField = Schema.Literals(Struct.keys(Customer.fields))
export type CustomerField = typeof CustomerField.Type

const AgeFromString = Schema.NumberFromString.pipe(Schema.decodeTo(Age))

/** `fields=id,email,name` */
const FieldList = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Array(Schema.String),
    SchemaTransformation.transform<ReadonlyArray<string>, string>({
      decode: (text) => text.split(",").map((field) => field.trim()),
      encode: (fields) => fields.join(",")
    })
  ),
  Schema.decodeTo(Schema.Array(CustomerField).check(Schema.isMinLength(1)))
)

/** Customers per page when a list names no `limit`. */
export const defaultPageSize = 50

export const ListCustomersQuery = Schema.Struct({
  status: Schema.optionalKey(CustomerStatus),
  country: Schema.optionalKey(CountryCode),
  tag: Schema.optionalKey(Tag),
  minAge: Schema.optionalKey(AgeFromString),
  maxAge: Schema.optionalKey(AgeFromString),
  createdAfter: Schema.optionalKey(InstantText),
  createdBefore: Schema.optionalKey(InstantText),
  updatedAfter: Schema.optionalKey(InstantText),
  updatedBefore: Schema.optionalKey(InstantText),
  lastActivityAfter: Schema.optionalKey(InstantText),
  lastActivityBefore: Schema.optionalKey(InstantText),
  q: Schema.optionalKey(Schema.String.check(
    Schema.isMinCodePoints(2),
    Schema.isMaxCodePoints(100),
    isStorableText
  ).annotate({
    description: "Every word of this text begins a word of the name or of the email (words: letters and digits), " +
      "ignoring letter case: `ada lov` finds Ada Lovelace; refused (403) for roles that do not see names and emails"
  })),
  sort: Schema.optionalKey(Sort),
  limit: Schema.optionalKey(
    PageLimit("Customers", 500, defaultPageSize)
  ),
  cursor: Schema.optionalKey(Schema.String.check(Schema.isMaxCodePoints(512)).annotate({
    description: "The previous page's `nextCursor`, with the same sort"
  })),
  fields: Schema.optionalKey(FieldList)
}).annotate({ identifier: "ListCustomersQuery" })
export type ListCustomersQuery = typeof ListCustomersQuery.Type

/**
 * The customer fields each list parameter reads, and how (Access.ts `mayQuery`): a search, filter or sort on a
 * field is an oracle for its value, so a role may use one only on fields it sees.
 */
export const fieldsReadBy = (query: ListCustomersQuery): ReadonlyArray<{
  readonly parameter: string
  readonly field: string
  readonly needs: "seen" | "whole"
}> => [
  ...(query.q === undefined ? [] : (["name", "email"] as const).map((field) => ({ parameter: "q", field, needs: "seen" as const }))),
  ...(query.country === undefined ? [] : [{ parameter: "country", field: "location", needs: "seen" as const }]),
  ...(query.sort === undefined ? [] : [{ parameter: "sort", field: query.sort.replace(/^-/u, ""), needs: "whole" as const }]),
  ...(query.fields ?? []).map((field) => ({ parameter: "fields", field, needs: "seen" as const }))
]

/**
 * A customer as served to a caller (REST, RPC, export): `Customer` with its personal fields optional, present
 * only when the caller's role may see them (Access.ts decides; each field's description says who sees what).
 */
export const ServedCustomer = Customer.mapFields((fields) => ({
  ...fields,
  ...Struct.map(
    Struct.pick(fields, customerModel.personal),
    Schema.optionalKey
  )
})).pipe((schema) =>
  schema.mapFields((fields) => ({
    ...fields,
    email: fields.email.annotateKey({ description: fieldAccessDescription("email") }),
    pendingEmail: fields.pendingEmail.annotateKey({
      description: `A new address waiting for verification; it replaces \`email\` once verified. ${
        fieldAccessDescription("pendingEmail")
      }`
    }),
    name: fields.name.annotateKey({ description: fieldAccessDescription("name") }),
    location: fields.location.annotateKey({ description: fieldAccessDescription("location") })
  }))
).annotate({ ...Customer.ast.annotations, identifier: "Customer" })
export type ServedCustomer = typeof ServedCustomer.Type

const { id, ...optionalFields } = ServedCustomer.fields

/** A customer with only the selected fields; `id` is always present. */
export const CustomerView = Schema.Struct({
  id,
  ...Struct.map(optionalFields, Schema.optionalKey)
}).annotate({ identifier: "CustomerView" })
export type CustomerView = typeof CustomerView.Type

export const CustomerPage = Schema.Struct({
  data: Schema.Array(CustomerView),
  nextCursor: Schema.NullOr(Schema.String),
  total: Schema.Int,
  totalIsEstimate: Schema.Boolean
}).annotate({ identifier: "CustomerPage" })
export type CustomerPage = typeof CustomerPage.Type
