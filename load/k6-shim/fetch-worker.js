// The worker behind the synchronous k6/http shim: runs each request with
// fetch, posts the response back, then wakes the blocked caller.
import { workerData } from "node:worker_threads"

const { port, signal } = workerData

port.on("message", async ({ method, url, headers, body, timeout }) => {
  const started = performance.now()
  let reply
  try {
    const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeout) })
    const text = await res.text()
    reply = {
      status: res.status,
      statusText: res.statusText,
      headers: Object.fromEntries(res.headers),
      body: text,
      duration: performance.now() - started
    }
  } catch (error) {
    reply = { status: 0, headers: {}, body: "", duration: performance.now() - started, error: String(error) }
  }
  port.postMessage(reply)
  Atomics.store(signal, 0, 1)
  Atomics.notify(signal, 0)
})
