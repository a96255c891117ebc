/**
 * Keyset cursors: the sort they belong to, the last row's sort value and id,
 * as base64url JSON. Opaque to clients, validated on the way back in.
 */
import { Option, Schema } from "effect"

const Position = Schema.Tuple([Schema.String, Schema.String, Schema.String.check(Schema.isUUID())])
const decodePosition = Schema.decodeUnknownOption(Schema.fromJsonString(Position))

export const encodeCursor = (sort: string, value: string, id: string): string =>
  Buffer.from(JSON.stringify([sort, value, id])).toString("base64url")

export const decodeCursor = (cursor: string, sort: string): Option.Option<{ readonly value: string; readonly id: string }> =>
  decodePosition(Buffer.from(cursor, "base64url").toString("utf8")).pipe(
    Option.filter(([cursorSort]) => cursorSort === sort),
    Option.map(([, value, id]) => ({ value, id }))
  )
