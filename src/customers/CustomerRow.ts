/**
 * How a customer is stored, derived from its schema: a column per field
 * (camelCase -> snake_case), jsonb for objects and lists of objects, text[] for
 * lists of text, timestamptz for date-times, plain columns for the rest. The
 * mapping is computed once at load; a row is mapped by one loop over it. Pure,
 * so the raw benchmark baseline does the very same work.
 */
import { SchemaAST } from "effect"
import type { Customer } from "../domain/Customer.ts"
import { SortField } from "../domain/CustomerQuery.ts"
import { Customer as CustomerSchema } from "../domain/Customer.ts"
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

export const sortColumns = Object.fromEntries(SortField.literals.map((field) => [field, columnOf(field)])) as {
  readonly [Field in SortField]: SnakeCase<Field>
}
