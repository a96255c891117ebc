/**
 * How a customer is stored: the columns read back, and the mapping from a row
 * to the API's representation. Pure, so the raw benchmark baseline does the
 * very same work.
 */
import type { Consent, Customer, CustomerId, CustomerStatus, Location, Metadata, Preferences } from "../domain/Customer.ts"
import type { SortField } from "../domain/CustomerQuery.ts"

export interface CustomerRow {
  readonly id: string
  readonly email: string
  readonly email_verified: boolean
  readonly pending_email: string | null
  readonly name: string
  readonly age: number | null
  readonly gender: Customer["gender"]
  readonly location: Location | null
  readonly preferences: Preferences
  readonly tags: ReadonlyArray<string>
  readonly metadata: Metadata
  readonly consent: Consent
  readonly status: CustomerStatus
  readonly version: number
  readonly created_at: Date
  readonly updated_at: Date
  readonly last_activity: Date
}

export const customerColumns = `id, email, email_verified, pending_email, name, age, gender, location, preferences,
  tags, metadata, consent, status, version, created_at, updated_at, last_activity`

export const toCustomer = (row: CustomerRow): Customer => ({
  id: row.id as CustomerId,
  email: row.email,
  emailVerified: row.email_verified,
  pendingEmail: row.pending_email,
  name: row.name,
  age: row.age,
  gender: row.gender,
  location: row.location,
  preferences: row.preferences,
  tags: row.tags,
  metadata: row.metadata,
  consent: row.consent,
  status: row.status,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  lastActivity: row.last_activity.toISOString()
})

export const sortColumns: Record<SortField, string> = {
  createdAt: "created_at",
  updatedAt: "updated_at",
  lastActivity: "last_activity",
  name: "name",
  email: "email"
}
