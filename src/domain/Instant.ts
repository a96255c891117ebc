/**
 * Instants as clients write them: RFC 3339 date-times only (no "1", no
 * "2001", no bare dates), within the years PostgreSQL can store and
 * ISO 8601 can write in four digits.
 */
import { Schema } from "effect"

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/

/** True for a real RFC 3339 date-time from year 0001 to 9999 (PostgreSQL has no year 0). */
export const isRfc3339Instant = (text: string): boolean => {
  const match = rfc3339.exec(text)
  if (match === null) return false
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = match.slice(1).map((part) => Number(part ?? 0))
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return false
  // PostgreSQL reads offsets up to ±15:59 (real zones span -12:00 to +14:00).
  if (offsetHours > 15 || offsetMinutes > 59) return false
  // The Gregorian calendar repeats every 400 years; day 0 of the next month is this month's last day.
  return day <= new Date(Date.UTC(2000 + (year % 400), month, 0)).getUTCDate()
}

/** A timestamp in a query, e.g. `createdAfter=2026-01-31T00:00:00Z`, kept as text so PostgreSQL reads every digit. */
export const InstantText = Schema.String.check(
  Schema.isMaxLength(40),
  Schema.makeFilter(
    (text: string) =>
      isRfc3339Instant(text) || "an RFC 3339 date-time such as '2026-01-31T09:30:00Z', years 0001 to 9999",
    // With `format: date-time` (which checks the calendar), the same rule for JSON Schema validators.
    {
      toJsonSchema: () => ({
        pattern: "^(?!0000)\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?(?:[Zz]|[+-](?:0\\d|1[0-5]):[0-5]\\d)$"
      })
    }
  )
).annotate({ identifier: "InstantText", format: "date-time" })
