/**
 * The CLV fit on a worker thread: the optimiser is seconds of pure arithmetic over a large customer base,
 * which on the main thread would stall every request the process serves. Receives the grouped summary rows
 * as workerData, posts back both fits.
 */
import { parentPort, workerData } from "node:worker_threads"
import { fitBgNbd, fitGammaGamma, type SpendRow, type SummaryRow } from "./Clv.ts"

export interface ClvFitInput {
  readonly summary: ReadonlyArray<SummaryRow>
  readonly spend: ReadonlyArray<SpendRow>
}

const { spend, summary } = workerData as ClvFitInput
parentPort?.postMessage({
  bgNbd: fitBgNbd(summary),
  gammaGamma: spend.length > 0 ? fitGammaGamma(spend) : null
})
