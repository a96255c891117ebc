/**
 * A headless Chromium (Debian's, at /usr/bin/chromium; scripts/ensure-deps.mjs
 * installs it) driven by playwright-core, with a fresh profile per use and
 * the flags that keep it off the network on its own account.
 */
import { Context, Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BrowserContext, chromium } from "playwright-core"

export const chromiumPath = "/usr/bin/chromium"

const flags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

export class Browser extends Context.Service<Browser, BrowserContext>()("test/Browser") {
  /** One browser for a test file; its profile directory is removed when the layer closes. */
  static readonly layer = Layer.effect(
    Browser,
    Effect.acquireRelease(
      Effect.promise(async () => {
        const userDataDir = mkdtempSync(join(tmpdir(), "chromium-profile-"))
        const context = await chromium.launchPersistentContext(userDataDir, {
          executablePath: chromiumPath,
          headless: true,
          args: flags,
          viewport: { width: 1400, height: 1000 }
        })
        return { context, userDataDir }
      }),
      ({ context, userDataDir }) =>
        Effect.promise(async () => {
          await context.close()
          rmSync(userDataDir, { recursive: true, force: true })
        })
    ).pipe(Effect.map(({ context }) => context))
  )
}
