/**
 * Everything derived from the one description of a customer (the `Customer`
 * schema and `customerModel` beside it): the state commands read and write,
 * a new customer's defaults, what a replacement clears, and what erasure leaves.
 * Adding a field to `Customer` changes all of these without touching this file.
 */
import { Schema, SchemaAST, Struct } from "effect"
import type { CreateCustomer, CustomerId, ReplaceCustomer } from "./Customer.ts"
import { Customer, customerModel, PatchCustomer } from "./Customer.ts"

/** The mutable part of a customer: what commands read and write; id, timestamps and version are the store's. */
export const CustomerState = Schema.Struct(Struct.omit(Customer.fields, customerModel.storeOwned))
export type CustomerState = typeof CustomerState.Type

export const stateFields = Object.keys(CustomerState.fields) as ReadonlyArray<keyof CustomerState>

/**
 * The value that means "nothing" for a schema, when it has one: null for a
 * nullable field, [] for a list, {} for an object whose keys are all optional,
 * false for a flag. Fields without one (required text, literals) have none.
 */
export const emptyValueOf = (ast: SchemaAST.AST): { readonly value: unknown } | undefined => {
  switch (ast._tag) {
    case "Union":
      return ast.types.some(SchemaAST.isNull) ? { value: null } : undefined
    case "Arrays":
      // Frozen: one empty value is shared by every customer that has it.
      return ast.elements.length === 0 ? { value: Object.freeze([]) } : undefined
    case "Objects":
      return ast.propertySignatures.every((property) => property.type.context?.isOptional === true)
        ? { value: Object.freeze({}) }
        : undefined
    case "Boolean":
      return { value: false }
    default:
      return undefined
  }
}

const emptyValues: { readonly [K in keyof Customer]?: Customer[K] } = Object.fromEntries(
  Object.entries(Customer.fields).flatMap(([field, schema]) => {
    const empty = emptyValueOf(schema.ast)
    return empty === undefined ? [] : [[field, empty.value]]
  })
)

export const stateOf = (customer: Customer): CustomerState => {
  const state: Record<string, unknown> = {}
  for (const field of stateFields) state[field] = customer[field]
  return state as CustomerState
}

/** The customer a create stores: its state, version 1, every timestamp the instant of the create. */
export const createdCustomer = (id: CustomerId, state: CustomerState, at: string): Customer => ({
  id,
  ...state,
  version: 1,
  createdAt: at,
  updatedAt: at,
  lastActivity: at
})

/** A new customer: what the input gives, else the model's default, else the field's empty value. */
export const initialState = (input: CreateCustomer): CustomerState => {
  const state: Record<string, unknown> = {}
  const given = input as Partial<Record<keyof CustomerState, unknown>>
  const defaults = customerModel.createdAs as Partial<Record<keyof CustomerState, unknown>>
  for (const field of stateFields) {
    state[field] = given[field] !== undefined ? given[field] : field in defaults ? defaults[field] : emptyValues[field]
  }
  return state as CustomerState
}

/** A replacement (PUT) as a patch: an omitted field that can be empty is cleared; others stay as they are. */
export const toPatch = (replacement: ReplaceCustomer): PatchCustomer => {
  const patch: Record<string, unknown> = {}
  const given = replacement as Partial<Record<string, unknown>>
  for (const field of Object.keys(PatchCustomer.fields)) {
    if (given[field] !== undefined) patch[field] = given[field]
    else if (field in emptyValues) patch[field] = emptyValues[field as keyof Customer]
  }
  return patch as PatchCustomer
}

const kept = new Set<string>(customerModel.keptOnErasure)
const erasedAs = customerModel.erasedAs as Partial<Record<keyof CustomerState, (id: string) => unknown>>

for (const field of stateFields) {
  if (!kept.has(field) && !(field in erasedAs) && !(field in emptyValues)) {
    // Fails at start-up, not at the first erasure: a field must be erasable or declared kept.
    throw new Error(`Customer field ${field} has no empty value: add it to customerModel.erasedAs or keptOnErasure`)
  }
}

/** What a deleted profile keeps: nothing that identifies the person. */
export const erasedState = (id: string, current: CustomerState): CustomerState => {
  const state: Record<string, unknown> = {}
  for (const field of stateFields) {
    const erase = erasedAs[field]
    state[field] = kept.has(field) ? current[field] : erase !== undefined ? erase(id) : emptyValues[field]
  }
  return state as CustomerState
}

/** The state fields erasure empties or replaces: everything about the person. */
export const personalFields: ReadonlyArray<keyof CustomerState> = stateFields.filter((field) =>
  !kept.has(field) && field !== "status"
)
