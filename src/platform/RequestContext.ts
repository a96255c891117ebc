/** The correlation id of the request being served, carried into logs, audit rows and events. */
import { Context } from "effect"
import { requestIdPattern } from "../api/Transport.ts"

export const CurrentRequestId = Context.Reference<string | null>("cms/platform/CurrentRequestId", {
  defaultValue: () => null
})

/** A caller's X-Request-Id, when it is safe to log and echo. */
export const offeredRequestId = (header: string | undefined): string | undefined =>
  header !== undefined && requestIdPattern.test(header) ? header : undefined
