/**
 * Logging: one JSON line per entry, on stdout, written in batches.
 *
 * Unexpected failures (a 500, a defect in a background fiber) are logged at
 * ERROR through the failing fiber's own loggers and annotations (so as JSON,
 * with the request id). Only the error's class, message and stack are written,
 * never its cause chain: a database error's detail can quote the row it
 * refused, and rows hold personal data.
 */
import { Config, Duration, Effect, ErrorReporter, Layer, Logger } from "effect"

// The HTTP and RPC servers report every failure except those marked ignored, which our
// problems below 500 are. A 503 (Unavailable, Overloaded) is overload the access log
// already counts: logging each one with a stack would only add load where there is too much.
const isOverload = (error: Error) => "status" in error && error.status === 503

const reporter = ErrorReporter.make(({ error, fiber }) => {
  if (isOverload(error)) return
  Effect.runFork(
    Effect.logError("unexpected failure").pipe(
      Effect.annotateLogs({ error: error.name, message: error.message, stack: error.stack ?? "" }),
      Effect.provideContext(fiber.context)
    )
  )
})

export const ErrorLoggingLive = ErrorReporter.layer([reporter])

/**
 * A JSON-lines logger that formats on the logging fiber (annotations such as the
 * request id are read there) but writes from a background fiber, one `write` per
 * `window`: a write to stdout is a blocking system call when stdout is a file or a
 * pipe, and one per access-log line cost a third of the service's throughput.
 * Whatever is buffered is written when the logger's scope closes, so shutdown
 * loses no line.
 */
export const batchedJsonLogger = (write: (chunk: string) => void, window: Duration.Input) =>
  Logger.batched(Logger.formatJson, {
    window,
    flush: (lines) => Effect.sync(() => write(lines.join("\n") + "\n"))
  })

const stdoutJsonLogger = Effect.flatMap(
  Config.Duration("LOG_BATCH_WINDOW").pipe(Config.withDefault(Duration.millis(100))),
  (window) => batchedJsonLogger((chunk) => process.stdout.write(chunk), window)
)

export const ObservabilityLive = Layer.mergeAll(Logger.layer([stdoutJsonLogger]), ErrorLoggingLive)
