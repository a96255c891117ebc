/**
 * An in-process PGlite served on a loopback socket, so the service's one PostgreSQL client runs on it
 * unchanged (`npm start` with no DATABASE_URL).
 *
 * PGlite is one backend session: every connection shares its unnamed statement and portal and its
 * transaction. A connection therefore has the backend to itself from its first message until a `Sync` or
 * simple `Query` leaves the backend outside a transaction block; the others wait their turn. Owning the
 * backend per transaction only is not enough: an extended query (`Parse`/`Bind`/`Execute`/`Sync`) runs
 * outside any block, and two of them interleaved bind one another's statements (electric-sql/pglite#1046,
 * the reason this replaces `@electric-sql/pglite-socket`).
 */
import type { PGlite } from "@electric-sql/pglite"
import { createServer, type Server, type Socket } from "node:net"

const sslRequestCode = 80877103
const gssEncryptionRequestCode = 80877104
const cancelRequestCode = 80877102
const protocolVersion3 = 196608

/** Messages after which a connection that is outside a transaction block gives the backend up. */
const endsUnit = new Set([0x53 /* Sync */, 0x51 /* Query */])
const terminate = 0x58
const syncMessage = Uint8Array.of(0x53, 0, 0, 0, 4)
const rollbackMessage = (() => {
  const text = Buffer.from("ROLLBACK\0")
  const message = Buffer.alloc(5 + text.length)
  message.writeUInt8(0x51, 0)
  message.writeInt32BE(4 + text.length, 1)
  text.copy(message, 5)
  return message
})()

/** Who has the backend, and who waits for it, in arrival order. */
class Backend {
  private owner: Connection | undefined
  private readonly waiting: Array<{ readonly connection: Connection; readonly granted: (held: boolean) => void }> = []

  readonly db: PGlite

  constructor(db: PGlite) {
    this.db = db
  }

  /** Resolves true once `connection` owns the backend, false if it closed while waiting. */
  acquire(connection: Connection): Promise<boolean> {
    if (this.owner === connection) return Promise.resolve(true)
    if (this.owner === undefined) {
      this.owner = connection
      return Promise.resolve(true)
    }
    return new Promise((granted) => this.waiting.push({ connection, granted }))
  }

  release(connection: Connection): void {
    if (this.owner !== connection) return
    const next = this.waiting.shift()
    this.owner = next?.connection
    next?.granted(true)
  }

  owns(connection: Connection): boolean {
    return this.owner === connection
  }

  forget(connection: Connection): void {
    const index = this.waiting.findIndex((waiter) => waiter.connection === connection)
    if (index >= 0) this.waiting.splice(index, 1)[0].granted(false)
  }

  /** Runs one frontend message, streaming the backend's answer to `reply`. */
  run(message: Uint8Array, reply: (data: Uint8Array) => void): Promise<void> {
    return this.db.runExclusive(() => this.db.execProtocolRawStream(message, { onRawData: reply }))
  }
}

class Connection {
  private buffered: Buffer = Buffer.alloc(0)
  /** Complete frontend messages not yet run; `typed` is false for those before startup (no type byte). */
  private readonly messages: Array<{ readonly bytes: Buffer; readonly typed: boolean }> = []
  private started = false
  private draining = false
  private closed = false

  private readonly backend: Backend
  private readonly socket: Socket
  private readonly onError: (error: unknown) => void

  constructor(backend: Backend, socket: Socket, onError: (error: unknown) => void) {
    this.backend = backend
    this.socket = socket
    this.onError = onError
    socket.setNoDelay(true)
    socket.on("data", (data) => this.receive(data))
    socket.on("close", () => this.close())
    socket.on("error", () => socket.destroy())
  }

  private receive(data: Buffer): void {
    this.buffered = this.buffered.length === 0 ? data : Buffer.concat([this.buffered, data])
    while (true) {
      // Before startup a message has no type byte: just its length, then a code.
      const header = this.started ? 5 : 4
      if (this.buffered.length < header) break
      const length = this.started ? 1 + this.buffered.readInt32BE(1) : this.buffered.readInt32BE(0)
      if (length < header) return void this.socket.destroy()
      if (this.buffered.length < length) break
      const bytes = this.buffered.subarray(0, length)
      this.messages.push({ bytes, typed: this.started })
      this.buffered = this.buffered.subarray(length)
      if (!this.started) this.started = this.startupCode(bytes) === protocolVersion3
    }
    void this.drain()
  }

  private startupCode(message: Buffer): number {
    return message.length >= 8 ? message.readInt32BE(4) : 0
  }

  private async drain(): Promise<void> {
    if (this.draining) return
    this.draining = true
    try {
      let message: { readonly bytes: Buffer; readonly typed: boolean } | undefined
      while (!this.closed && (message = this.messages.shift()) !== undefined) await this.handle(message.bytes, message.typed)
    } catch (error) {
      this.onError(error)
      this.socket.destroy()
    } finally {
      this.draining = false
      if (this.closed) await this.giveUpBackend()
    }
  }

  private async handle(message: Buffer, typed: boolean): Promise<void> {
    if (!typed) {
      const code = this.startupCode(message)
      // No TLS on loopback: the client goes on in the clear. PGlite has no backend process to cancel.
      if (code === sslRequestCode || code === gssEncryptionRequestCode) return void this.socket.write("N")
      if (code === cancelRequestCode) return void this.socket.end()
    } else if (message[0] === terminate) {
      this.socket.end()
      return
    }
    if (!(await this.backend.acquire(this))) return
    await this.backend.run(message, (data) => {
      if (!this.closed && data.length > 0) this.socket.write(data)
    })
    if ((!typed || endsUnit.has(message[0])) && !this.backend.db.isInTransaction()) this.backend.release(this)
  }

  private close(): void {
    if (this.closed) return
    this.closed = true
    this.messages.length = 0
    this.backend.forget(this)
    if (!this.draining) void this.giveUpBackend()
  }

  /** A connection gone mid-query or mid-transaction leaves the backend as it found it. */
  private async giveUpBackend(): Promise<void> {
    if (!this.backend.owns(this)) return
    try {
      const discard = () => {}
      await this.backend.run(syncMessage, discard)
      if (this.backend.db.isInTransaction()) await this.backend.run(rollbackMessage, discard)
    } catch (error) {
      this.onError(error)
    } finally {
      this.backend.release(this)
    }
  }
}

/** Serves `db` on 127.0.0.1 at a free port; `onError` hears of failures of the backend itself. */
export const serveEmbedded = async (
  db: PGlite,
  onError: (error: unknown) => void
): Promise<{ readonly port: number; readonly close: () => Promise<void> }> => {
  const backend = new Backend(db)
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    new Connection(backend, socket, onError)
  })
  await new Promise<void>((listening, failed) => {
    server.once("error", failed)
    server.listen(0, "127.0.0.1", () => listening())
  })
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  const close = () =>
    new Promise<void>((closed) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => closed())
    })
  return { port, close }
}
