/**
 * The engagement score: recency, frequency and intensity of a customer's
 * activity, each day weighted by exponential decay with a half-life of 14
 * days. docs/engagement.md states the formula with a worked example.
 */
import type { Engagement } from "../domain/Analytics.ts"

export const halfLifeDays = 14

/** Days read: a day a year old weighs 2^(-365/14) < 2e-8, so older days cannot move the score. */
export const windowDays = 365

/** Decayed active days at which frequency is one half. */
export const activeDaysAtHalf = 2
/** Events per (decayed) active day at which intensity is one half. */
export const eventsPerDayAtHalf = 5

export const weights = { recency: 0.4, frequency: 0.35, intensity: 0.25 } as const

/** The weight of a day `ageDays` before today (0 = today). */
export const decay = (ageDays: number): number => 2 ** (-Math.max(0, ageDays) / halfLifeDays)

/** x / (x + half): 0 at 0, one half at `half`, approaching 1. */
const saturate = (x: number, half: number) => x / (x + half)

const round4 = (x: number) => Math.round(x * 10_000) / 10_000

export interface DayActivity {
  /** Days before today (UTC); 0 is today. */
  readonly ageDays: number
  readonly events: number
}

/** From the customer's active days within the window and the days since its last event (null: never active). */
export const engagementOf = (days: ReadonlyArray<DayActivity>, daysSinceLastActive: number | null): Engagement => {
  let decayedActiveDays = 0
  let decayedEvents = 0
  for (const day of days) {
    if (day.events <= 0 || day.ageDays >= windowDays) continue
    const weight = decay(day.ageDays)
    decayedActiveDays += weight
    decayedEvents += weight * day.events
  }
  const recency = daysSinceLastActive === null ? 0 : decay(daysSinceLastActive)
  const frequency = saturate(decayedActiveDays, activeDaysAtHalf)
  const intensity = decayedActiveDays === 0 ? 0 : saturate(decayedEvents / decayedActiveDays, eventsPerDayAtHalf)
  const score = Math.round(
    100 * (weights.recency * recency + weights.frequency * frequency + weights.intensity * intensity)
  )
  return {
    score,
    halfLifeDays,
    recency: round4(recency),
    frequency: round4(frequency),
    intensity: round4(intensity),
    daysSinceLastActive,
    decayedActiveDays: round4(decayedActiveDays),
    decayedEvents: round4(decayedEvents)
  }
}
