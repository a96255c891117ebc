/** The mutable part of a customer: what commands read and write; id, timestamps and version are the store's. */
import type { Customer } from "./Customer.ts"

export type CustomerState = Pick<
  Customer,
  | "email"
  | "emailVerified"
  | "pendingEmail"
  | "name"
  | "age"
  | "gender"
  | "location"
  | "preferences"
  | "tags"
  | "metadata"
  | "consent"
  | "status"
>

export const stateOf = (customer: Customer): CustomerState => ({
  email: customer.email,
  emailVerified: customer.emailVerified,
  pendingEmail: customer.pendingEmail,
  name: customer.name,
  age: customer.age,
  gender: customer.gender,
  location: customer.location,
  preferences: customer.preferences,
  tags: customer.tags,
  metadata: customer.metadata,
  consent: customer.consent,
  status: customer.status
})
