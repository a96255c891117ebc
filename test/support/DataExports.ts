/**
 * Comparing an asynchronous export's document with the synchronous export made after it.
 */
import { assert } from "@effect/vitest"
import { Schema } from "effect"
import { CustomerDataExport } from "../../src/domain/DataExport.ts"

export const decodeExport = Schema.decodeUnknownSync(CustomerDataExport)

/**
 * The job's document is the synchronous export's, but for what the latter, made later, adds: the audit entries
 * written since, and its own time and analytics' time.
 */
export const assertSameExport = (fromJob: CustomerDataExport, synchronous: CustomerDataExport) => {
  const withoutTimes = (document: CustomerDataExport) => ({
    ...document,
    exportedAt: null,
    audit: null,
    analytics: document.analytics === null ? null : { ...document.analytics, asOf: null }
  })
  assert.deepStrictEqual(withoutTimes(fromJob), withoutTimes(synchronous))
  // `sealed` turns true once the chain links an entry, which may happen between the two.
  const unsealed = ({ sealed: _sealed, ...entry }: CustomerDataExport["audit"][number]) => entry
  assert.includeDeepMembers(synchronous.audit.map(unsealed), fromJob.audit.map(unsealed))
}
