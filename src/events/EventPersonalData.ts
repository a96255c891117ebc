/**
 * The personal part of a tracked event: its device details (all but the coarse `device.type`) and the
 * properties its type marks personal in the tracking plan. That part is sealed at rest under the customer's data
 * key (one value per event, `customer_events.personal_sealed`), withheld from roles that do not see personal data,
 * and never leaves the service in the clear (the EVENTS stream carries the clear part only).
 *
 * `device.type` stays clear, as a customer's country does: insights and consumers count by it, and "mobile" names
 * no one. The rest of a device (user agent, model, OS and app versions) fingerprints a person's device.
 */
import type { Metadata } from "../domain/Customer.ts"
import type { Device } from "../domain/Event.ts"

/** What is sealed of an event: the device without its type, the personal properties; each absent when empty. */
export interface PersonalEventData {
  readonly device?: Omit<Device, "type">
  readonly properties?: Metadata
}

/** An event's fields split into what is stored (and published) in the clear and what is sealed. */
export interface SplitEvent {
  readonly device: Device | null
  readonly properties: Metadata | null
  readonly personal: PersonalEventData | null
}

/** The name a sealed event part is bound to (with its customer): moved to another event, it does not open. */
export const sealedEventField = (eventId: string) => `event\u0000${eventId.toLowerCase()}`

export const splitPersonal = (
  device: Device | null,
  properties: Metadata | null,
  personalProperties: ReadonlyArray<string>
): SplitEvent => {
  let clearDevice = device
  let details: Omit<Device, "type"> | undefined
  if (device !== null) {
    const { type, ...rest } = device
    if (Object.keys(rest).length > 0) {
      details = rest
      clearDevice = type === undefined ? {} : { type }
    }
  }
  let clearProperties = properties
  let marked: Record<string, Metadata[string]> | undefined
  if (properties !== null && personalProperties.length > 0) {
    for (const name of personalProperties) {
      if (!(name in properties)) continue
      if (marked === undefined) {
        marked = {}
        clearProperties = { ...properties }
      }
      marked[name] = properties[name]
      delete (clearProperties as Record<string, unknown>)[name]
    }
  }
  if (details === undefined && marked === undefined) return { device, properties, personal: null }
  return {
    device: clearDevice,
    properties: clearProperties,
    personal: {
      ...(details === undefined ? {} : { device: details }),
      ...(marked === undefined ? {} : { properties: marked })
    }
  }
}

/** The event's device and properties whole again: the clear part with the opened personal part. */
export const mergePersonal = (
  device: Device | null,
  properties: Metadata,
  personal: PersonalEventData
): { readonly device: Device | null; readonly properties: Metadata } => ({
  device: personal.device === undefined ? device : { ...device, ...personal.device },
  properties: personal.properties === undefined ? properties : { ...properties, ...personal.properties }
})
