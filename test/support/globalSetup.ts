/**
 * Tests run against the real PostgreSQL and NATS JetStream on this machine.
 * Fail fast, and say how to start them, when either is not there.
 */
import { connect } from "node:net"

const reachable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.end()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

export default async function setup() {
  const missing = []
  if (!(await reachable(Number(process.env.PGPORT ?? 5432)))) missing.push("PostgreSQL on 127.0.0.1:5432")
  if (!(await reachable(4222))) missing.push("NATS (with JetStream) on 127.0.0.1:4222")
  if (missing.length > 0) {
    throw new Error(`Tests need ${missing.join(" and ")}. Start them with .ci/run, or see README.md.`)
  }
}
