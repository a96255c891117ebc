/**
 * How a customer is stored, derived from its schema: a column per field
 * (camelCase -> snake_case), jsonb for objects and lists of objects, text[] for
 * lists of text, timestamptz for date-times, plain columns for the rest. The
 * mapping is computed once at load; a row is mapped by one loop over it. Pure,
 * so the raw benchmark baseline does the very same work.
 */
import { SchemaAST } from "effect"
import type { Customer, Location } from "../domain/Customer.ts"
import { SortField } from "../domain/CustomerQuery.ts"
import { Customer as CustomerSchema, customerModel } from "../domain/Customer.ts"
import type { Opener, Sealer } from "../privacy/Keyring.ts"
import { CustomerState } from "../domain/CustomerState.ts"

type SnakeCase<S extends string> = S extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${SnakeCase<Tail>}`
  : S

export const columnOf = <Field extends string>(field: Field): SnakeCase<Field> =>
  field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`) as SnakeCase<Field>

/** A row as the driver returns it: jsonb parsed, text[] as an array, timestamptz as a Date. */
export type CustomerRow = {
  readonly [Field in keyof Customer as SnakeCase<Field>]: Field extends "id" ? string : unknown
}

export type ColumnKind = "scalar" | "json" | "text-array" | "timestamp"

const isScalar = (ast: SchemaAST.AST): boolean =>
  SchemaAST.isString(ast) || SchemaAST.isNumber(ast) || SchemaAST.isBoolean(ast) || SchemaAST.isLiteral(ast) ||
  (SchemaAST.isUnion(ast) && ast.types.every(isScalar))

export const columnKindOf = (ast: SchemaAST.AST): ColumnKind => {
  const present = SchemaAST.isUnion(ast) ? ast.types.filter((member) => !SchemaAST.isNull(member)) : [ast]
  if (present.length === 1) {
    const [type] = present
    if (SchemaAST.isString(type) && SchemaAST.resolve(type)?.format === "date-time") return "timestamp"
    if (SchemaAST.isArrays(type) && type.elements.length === 0 && type.rest.every(SchemaAST.isString)) {
      return "text-array"
    }
  }
  return present.every(isScalar) ? "scalar" : "json"
}

export interface Column {
  readonly field: keyof Customer
  readonly column: string
  readonly kind: ColumnKind
}

export const columns: ReadonlyArray<Column> = Object.entries(CustomerSchema.fields).map(([field, schema]) => ({
  field: field as keyof Customer,
  column: columnOf(field),
  kind: columnKindOf(schema.ast)
}))

/** What commands write: the state's columns (the store sets id, version and timestamps). */
export const stateColumns: ReadonlyArray<Column> = columns.filter((column) => column.field in CustomerState.fields)

export const customerColumns = columns.map((column) => column.column).join(", ")

// Parallel arrays and an index loop: as fast as a hand-written mapping (measured), with no per-row reflection.
const fields = columns.map((column) => column.field)
const names = columns.map((column) => column.column)
const timestamps = columns.map((column) => column.kind === "timestamp")

export const toCustomer = (row: CustomerRow): Customer => {
  const source = row as Record<string, unknown>
  const customer: Record<string, unknown> = {}
  for (let i = 0; i < fields.length; i++) {
    const value = source[names[i]]
    customer[fields[i]] = timestamps[i] ? (value as Date).toISOString() : value
  }
  return customer as Customer
}

/**
 * At rest, the personal fields (customerModel.personal) are sealed together, as one JSON object, in
 * `personal_sealed` (AES-256-GCM under the customer's data key, src/privacy/Keyring.ts): one authenticated
 * decryption per row read. Their own columns hold only the part listed here (what SQL must still read: segment
 * criteria and the country filter), NULL for the others. Rows written before encryption keep their clear values
 * until sealed (the key pass, src/customers/KeyUpkeep.ts), and are read as they are.
 */
export const clearAtRest: { readonly [Field in (typeof customerModel.personal)[number]]?: ReadonlyArray<keyof Location> } = {
  location: ["country", "region", "city"]
}

/** The column of the sealed personal fields, and the name their ciphertext is bound to. */
export const sealedColumn = "personal_sealed"

const personal: ReadonlySet<string> = new Set(customerModel.personal)
const isPersonal = columns.map((column) => personal.has(column.field))

/** The clear part of a personal value kept beside its sealed copy (null when nothing of it stays clear). */
export const clearPartOf = (field: keyof Customer, value: unknown): unknown => {
  const kept = clearAtRest[field as keyof typeof clearAtRest]
  if (kept === undefined || value === null || typeof value !== "object") return null
  const part: Record<string, unknown> = {}
  for (const key of kept) if (key in value) part[key] = (value as Record<string, unknown>)[key]
  return part
}

/** What a stored read selects from `customers`: every column, the sealed fields, and the wrapped data key. */
export const storedSelection = [
  ...names,
  sealedColumn,
  "(SELECT k.wrapped FROM customer_keys.data_keys k WHERE k.customer_id = customers.id) AS data_key"
].join(", ")

export type StoredRow = CustomerRow & {
  readonly personal_sealed: Uint8Array | null
  readonly data_key: Uint8Array | null
}

/** A stored row as the customer it holds, its sealed fields opened (throws UnreadableSealedValue). */
export const toStoredCustomer = (row: StoredRow, open: Opener): Customer => {
  const source = row as Record<string, unknown>
  const sealed = row.personal_sealed === null ? null : open(sealedColumn, row.personal_sealed) as Record<string, unknown>
  const customer: Record<string, unknown> = {}
  for (let i = 0; i < fields.length; i++) {
    const value = sealed !== null && isPersonal[i] ? sealed[fields[i]] : source[names[i]]
    customer[fields[i]] = timestamps[i] ? (value as Date).toISOString() : value
  }
  return customer as Customer
}

/**
 * The state's columns as written: personal fields as their clear part only, and all of them sealed together in
 * `personal_sealed`; without a sealer (erasure) nothing personal is written at all.
 */
export const storedValues = (
  state: Readonly<Record<string, unknown>>,
  seal: Sealer | null
): ReadonlyArray<{ readonly column: string; readonly kind: ColumnKind | "bytea"; readonly value: unknown }> => {
  const sealedFields: Record<string, unknown> = {}
  const values = stateColumns.map((column) => {
    const value = state[column.field]
    if (!personal.has(column.field)) return { column: column.column, kind: column.kind, value }
    sealedFields[column.field] = value
    return { column: column.column, kind: column.kind, value: seal === null ? null : clearPartOf(column.field, value) }
  })
  return [...values, { column: sealedColumn, kind: "bytea", value: seal === null ? null : seal(sealedColumn, sealedFields) }]
}

export const sortColumns = Object.fromEntries(SortField.literals.map((field) => [field, columnOf(field)])) as {
  readonly [Field in SortField]: SnakeCase<Field>
}
