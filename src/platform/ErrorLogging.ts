/**
 * Unexpected failures (a 500, a defect in a background fiber) are logged at
 * ERROR through the failing fiber's own loggers and annotations (so as JSON,
 * with the request id). Only the error's class, message and stack are written,
 * never its cause chain: a database error's detail can quote the row it
 * refused, and rows hold personal data.
 */
import { Effect, ErrorReporter, Layer, Logger } from "effect"

// The HTTP and RPC servers report every failure except those marked ignored, which our
// problems below 500 are. A 503 is overload the access log already counts: logging each
// one with a stack would only add load where there is too much.
const reporter = ErrorReporter.make(({ error, fiber }) => {
  if (error.name === "Unavailable") return
  Effect.runFork(
    Effect.logError("unexpected failure").pipe(
      Effect.annotateLogs({ error: error.name, message: error.message, stack: error.stack ?? "" }),
      Effect.provideContext(fiber.context)
    )
  )
})

export const ErrorLoggingLive = ErrorReporter.layer([reporter])

export const ObservabilityLive = Layer.mergeAll(Logger.layer([Logger.consoleJson]), ErrorLoggingLive)
