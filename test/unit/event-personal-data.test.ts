/** How an event splits into its clear part and its personal part (sealed), and how the two make it whole again. */
import { assert, describe, it } from "@effect/vitest"
import { mergePersonal, splitPersonal } from "../../src/events/EventPersonalData.ts"

describe("an event's personal part", () => {
  it("is the device without its type and the properties marked personal; the rest stays clear", () => {
    const split = splitPersonal(
      { type: "mobile", os: "iOS", userAgent: "UA" },
      { orderId: "A-1", phone: "+31 6 1234", address: { city: "Utrecht" } },
      ["phone", "address", "email"]
    )
    assert.deepStrictEqual(split, {
      device: { type: "mobile" },
      properties: { orderId: "A-1" },
      personal: { device: { os: "iOS", userAgent: "UA" }, properties: { phone: "+31 6 1234", address: { city: "Utrecht" } } }
    })
  })

  it("is nothing when the device has only its type and no marked property is present", () => {
    const device = { type: "desktop" } as const
    const properties = { path: "/" }
    const split = splitPersonal(device, properties, ["phone"])
    assert.deepStrictEqual(split, { device, properties, personal: null })
    assert.strictEqual(split.properties, properties)
  })

  it("leaves a device without a type as an empty clear object", () => {
    assert.deepStrictEqual(splitPersonal({ model: "Pixel 9" }, null, []), {
      device: {},
      properties: null,
      personal: { device: { model: "Pixel 9" } }
    })
  })

  it("merged with its clear part gives the event as tracked", () => {
    const device = { type: "tablet", browser: "Safari" } as const
    const properties = { sku: "X", note: "call after 6" }
    const { personal, ...clear } = splitPersonal(device, properties, ["note"])
    assert.deepStrictEqual(mergePersonal(clear.device, clear.properties ?? {}, personal!), { device, properties })
  })
})
