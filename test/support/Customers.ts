/**
 * Customer fixtures shared by the test files: plain data, no service, so a
 * unit test may import them as cheaply as an integration test.
 */
import type { CreateCustomer, Customer } from "../../src/domain/Customer.ts"

/** A customer as the API sends it: the JSON, not the decoded domain type. */
export type CustomerBody = typeof Customer.Encoded

export const customersPath = "/api/v1/customers"

/** Consent that lets a profile be held: data processing given, marketing refused. */
export const consent = { marketing: false, dataProcessing: true }

/** Each optional field of a customer as it reads when never set, or cleared: null or empty. */
export const emptyOptionalFields = {
  age: null,
  gender: null,
  location: null,
  preferences: {},
  tags: [],
  metadata: {}
} as const

/** Eight random hex characters, for tags and keys no other test uses. */
export const unique = () => crypto.randomUUID().slice(0, 8)

let emailCounter = 0

/** An address no other call in this test file returns; it starts with `label`, letter case kept. */
export const uniqueEmail = (label = "customer") => `${label}.${Date.now().toString(36)}.${++emailCounter}@example.com`

/** A valid CreateCustomer (also the JSON body of a create) with an unused address, `overrides` on top. */
export const newCustomer = (overrides: Partial<CreateCustomer> = {}): CreateCustomer => ({
  email: uniqueEmail(),
  name: "Ada Lovelace",
  consent,
  ...overrides
})
