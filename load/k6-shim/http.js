// A tiny stand-in for `k6/http` over fetch. k6's HTTP calls are synchronous,
// fetch is not: each call posts the request to a worker thread that runs the
// fetch, and this thread blocks on Atomics.wait until the worker has posted
// the response back (then takes it with receiveMessageOnPort).
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads"

const state = (globalThis.__k6shim ??= { checks: {}, passes: 0, fails: 0, requests: 0, statuses: {} })

const signal = new Int32Array(new SharedArrayBuffer(4))
const { port1, port2 } = new MessageChannel()
const worker = new Worker(new URL("./fetch-worker.js", import.meta.url), {
  workerData: { port: port2, signal },
  transferList: [port2]
})
worker.unref()

const timeoutOf = (params) => {
  const timeout = params?.timeout
  if (typeof timeout === "number") return timeout
  if (typeof timeout === "string") {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(timeout)
    if (match) return Number(match[1]) * ({ ms: 1, s: 1000, m: 60_000 }[match[2] ?? "ms"])
  }
  return 60_000
}

const encodeBody = (body, headers) => {
  if (body === undefined || body === null) return undefined
  if (typeof body === "string") return body
  // k6 sends an object as a form.
  if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-type")) {
    headers["content-type"] = "application/x-www-form-urlencoded"
  }
  return new URLSearchParams(body).toString()
}

/** Header names as k6 shows them: Canonical-Case. */
const canonical = (name) => name.replace(/(^|-)([a-z])/g, (_, dash, char) => dash + char.toUpperCase())

const select = (value, selector) => {
  if (selector === undefined || selector === "") return value
  let current = value
  for (const part of String(selector).split(".")) {
    if (current === undefined || current === null) return undefined
    current = current[/^\d+$/.test(part) ? Number(part) : part]
  }
  return current
}

export function request(method, url, body, params = {}) {
  const headers = { ...(params.headers ?? {}) }
  const payload = encodeBody(body, headers)
  const timeout = timeoutOf(params)
  Atomics.store(signal, 0, 0)
  port1.postMessage({ method: method.toUpperCase(), url: String(url), headers, body: payload, timeout })
  const outcome = Atomics.wait(signal, 0, 0, timeout + 5_000)
  const message = receiveMessageOnPort(port1)?.message
  state.requests++
  if (outcome === "timed-out" || message === undefined) {
    state.statuses[0] = (state.statuses[0] ?? 0) + 1
    return response(method, url, { status: 0, headers: {}, body: "", duration: timeout, error: "request timeout" })
  }
  state.statuses[message.status] = (state.statuses[message.status] ?? 0) + 1
  return response(method, url, message)
}

const response = (method, url, message) => {
  const headers = {}
  for (const [name, value] of Object.entries(message.headers)) headers[canonical(name)] = value
  return {
    status: message.status,
    status_text: message.statusText ?? "",
    body: message.body,
    headers,
    url,
    error: message.error ?? "",
    error_code: message.error ? 1000 : 0,
    timings: { duration: message.duration, waiting: message.duration },
    request: { method, url },
    json(selector) {
      return select(JSON.parse(message.body), selector)
    }
  }
}

export const get = (url, params) => request("GET", url, undefined, params)
export const head = (url, params) => request("HEAD", url, undefined, params)
export const options = (url, body, params) => request("OPTIONS", url, body, params)
export const post = (url, body, params) => request("POST", url, body, params)
export const put = (url, body, params) => request("PUT", url, body, params)
export const patch = (url, body, params) => request("PATCH", url, body, params)
export const del = (url, body, params) => request("DELETE", url, body, params)

export default { request, get, head, options, post, put, patch, del }
