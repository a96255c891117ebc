/** Events as EventStore takes them, for tests that drive the store (or the publisher) without the HTTP door. */
import type { CustomerId } from "../../src/domain/Customer.ts"
import type { EventId } from "../../src/domain/Event.ts"
import type { EventToStore } from "../../src/events/EventStore.ts"

/** An event of `customerId` with a fresh id; every optional field empty unless given. */
export const eventToStore = (
  customerId: CustomerId,
  fields: Partial<EventToStore> & Pick<EventToStore, "type" | "occurredAt">
): EventToStore => ({
  id: crypto.randomUUID() as EventId,
  customerId,
  sessionId: null,
  channel: null,
  device: null,
  properties: null,
  revenue: null,
  currency: null,
  planViolations: null,
  personalProperties: [],
  ...fields
})
