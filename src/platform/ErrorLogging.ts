/**
 * Unexpected failures (a 500, a defect in a background fiber) are logged at
 * ERROR with the request's correlation id. Only the error's class, message and
 * stack are written, never its cause chain: a database error's detail can
 * quote the row it refused, and rows hold personal data.
 */
import { Effect, ErrorReporter, Layer, Logger, References } from "effect"

// The HTTP and RPC servers report every failure except those marked ignored, which
// our problems below 500 are: what arrives here is a 5xx or a defect.
const reporter = ErrorReporter.make(({ error, fiber }) => {
  Effect.runFork(
    Effect.logError("unexpected failure").pipe(
      Effect.annotateLogs({
        // The failing fiber's annotations carry the request id.
        ...fiber.getRef(References.CurrentLogAnnotations),
        error: error.name,
        message: error.message,
        stack: error.stack ?? ""
      })
    )
  )
})

export const ErrorLoggingLive = ErrorReporter.layer([reporter])

export const ObservabilityLive = Layer.mergeAll(Logger.layer([Logger.consoleJson]), ErrorLoggingLive)
