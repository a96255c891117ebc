/**
 * Keyset cursors: the sort they belong to, the last row's sort value and id,
 * as base64url JSON. Opaque to clients, validated on the way back in.
 */
import { Option, Schema } from "effect"
import { isStorableText } from "../domain/Customer.ts"
import { isRfc3339Instant } from "../domain/Instant.ts"

const Position = Schema.Tuple([
  Schema.String,
  Schema.String.check(isStorableText),
  Schema.String.check(Schema.isUUID())
])
const decodePosition = Schema.decodeUnknownOption(Schema.fromJsonString(Position))

/**
 * A time cursor carries the full microsecond value (a JS Date would cut it to
 * milliseconds and the seek would repeat or skip rows) in UTC, as written.
 */
const cursorInstant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/
const isCursorInstant = (value: string) => cursorInstant.test(value) && isRfc3339Instant(value)

export const encodeCursor = (sort: string, value: string, id: string): string =>
  Buffer.from(JSON.stringify([sort, value, id])).toString("base64url")

export const decodeCursor = (
  cursor: string,
  sort: string,
  isTimeSort: boolean
): Option.Option<{ readonly value: string; readonly id: string }> =>
  decodePosition(Buffer.from(cursor, "base64url").toString("utf8")).pipe(
    Option.filter(([cursorSort, value]) => cursorSort === sort && (!isTimeSort || isCursorInstant(value))),
    Option.map(([, value, id]) => ({ value, id }))
  )
