/** The correlation id of the request being served, carried into logs, audit rows and events. */
import { Context } from "effect"

export const CurrentRequestId = Context.Reference<string | null>("cms/platform/CurrentRequestId", {
  defaultValue: () => null
})

const acceptableRequestId = /^[A-Za-z0-9._:-]{1,128}$/

/** A caller's X-Request-Id, when it is safe to log and echo. */
export const offeredRequestId = (header: string | undefined): string | undefined =>
  header !== undefined && acceptableRequestId.test(header) ? header : undefined
