/** Calendar days in UTC as whole numbers (days since 1970-01-01), the unit the rollups count in. */

const millisPerDay = 86_400_000

/** The UTC day an instant (epoch milliseconds) falls in. */
export const dayOfInstant = (millis: number): number => Math.floor(millis / millisPerDay)

/** `2026-03-15` -> its day number. */
export const dayNumber = (day: string): number => Date.parse(`${day}T00:00:00Z`) / millisPerDay

/** A day number -> `2026-03-15`. */
export const dayText = (day: number): string => new Date(day * millisPerDay).toISOString().slice(0, 10)
