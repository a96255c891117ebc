/** The correlation id of the request being served, carried into logs, audit rows and events. */
import { Context } from "effect"

export const CurrentRequestId = Context.Reference<string | null>("cms/platform/CurrentRequestId", {
  defaultValue: () => null
})
