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
 * At rest, each personal field (customerModel.personal) is sealed in a column of its own, `<column>_sealed`
 * (AES-256-GCM under the customer's data key, src/privacy/Keyring.ts). Its clear column holds only the part
 * listed here (what SQL must still read: segment criteria and the country filter), NULL for the others; rows
 * written before encryption keep their clear values until sealed (`npm run keys:rotate`), read as they are.
 */
export const clearAtRest: { readonly [Field in (typeof customerModel.personal)[number]]?: ReadonlyArray<keyof Location> } = {
  location: ["country", "region", "city"]
}

export interface StoredColumn extends Column {
  /** Where the sealed value lives, for a personal field. */
  readonly sealedColumn: string | null
}

const personal: ReadonlySet<string> = new Set(customerModel.personal)

export const storedColumns: ReadonlyArray<StoredColumn> = columns.map((column) => ({
  ...column,
  sealedColumn: personal.has(column.field) ? `${column.column}_sealed` : null
}))

const storedStateColumns = storedColumns.filter((column) => column.field in CustomerState.fields)

/** The clear part of a personal value kept beside its sealed copy (null when nothing of it stays clear). */
export const clearPartOf = (field: keyof Customer, value: unknown): unknown => {
  const kept = clearAtRest[field as keyof typeof clearAtRest]
  if (kept === undefined || value === null || typeof value !== "object") return null
  const part: Record<string, unknown> = {}
  for (const key of kept) if (key in value) part[key] = (value as Record<string, unknown>)[key]
  return part
}

/** What a stored read selects from `customers`: clear columns, sealed columns, and the wrapped data key. */
export const storedSelection = [
  ...storedColumns.flatMap((column) => column.sealedColumn === null ? [column.column] : [column.column, column.sealedColumn]),
  "(SELECT k.wrapped FROM customer_keys.data_keys k WHERE k.customer_id = customers.id) AS data_key"
].join(", ")

export type StoredRow = CustomerRow & { readonly data_key: Uint8Array | null }

const sealedNames = storedColumns.map((column) => column.sealedColumn)

/** A stored row as the customer it holds, its sealed fields opened (throws UnreadableSealedValue). */
export const toStoredCustomer = (row: StoredRow, open: Opener): Customer => {
  const source = row as Record<string, unknown>
  const customer: Record<string, unknown> = {}
  for (let i = 0; i < fields.length; i++) {
    const sealedName = sealedNames[i]
    const sealed = sealedName === null ? null : source[sealedName] as Uint8Array | null
    const value = sealed === null ? source[names[i]] : open(fields[i], sealed)
    customer[fields[i]] = timestamps[i] ? (value as Date).toISOString() : value
  }
  return customer as Customer
}

/**
 * The state columns' values as written: a sealed field's ciphertext (null for a null value) and its clear part;
 * without a sealer (erasure) nothing personal is written at all.
 */
export const storedValues = (
  state: Readonly<Record<string, unknown>>,
  seal: Sealer | null
): ReadonlyArray<{ readonly column: string; readonly kind: ColumnKind | "bytea"; readonly value: unknown }> =>
  storedStateColumns.flatMap((column) => {
    const value = state[column.field]
    if (column.sealedColumn === null) return [{ column: column.column, kind: column.kind, value }]
    return [
      { column: column.column, kind: column.kind, value: seal === null ? null : clearPartOf(column.field, value) },
      { column: column.sealedColumn, kind: "bytea", value: seal === null || value === null ? null : seal(column.field, value) }
    ]
  })

export const sortColumns = Object.fromEntries(SortField.literals.map((field) => [field, columnOf(field)])) as {
  readonly [Field in SortField]: SnakeCase<Field>
}
