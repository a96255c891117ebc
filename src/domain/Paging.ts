/** What every paged list shares in its query. */
import { Schema } from "effect"

/** `limit`: how many `items` a page holds, 1 to `maximum`, from the query string; `byDefault` when absent. */
export const PageLimit = (items: string, maximum: number, byDefault: number) =>
  Schema.NumberFromString.pipe(Schema.decodeTo(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum })).annotate({
      description: `${items} per page, ${byDefault} when not given`
    })
  ))
