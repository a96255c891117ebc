/**
 * The segment capability as both doors (REST and RPC) use it: permissions,
 * the rules of a definition (a manual segment has no criteria, references
 * name existing segments and make no cycle, names are unique), and
 * hand-kept membership of manual segments. Queries and writes go straight to
 * SegmentRepo: a segment's commands are rare and guarded by its version.
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import type { Actor, CommandOptions } from "../domain/Access.ts"
import { mayQuery, requirePermission } from "../domain/Access.ts"
import type { CustomerId } from "../domain/Customer.ts"
import {
  type CalculateSegmentErrors,
  type ChangeSegmentMembersErrors,
  type CreateSegmentErrors,
  CustomerNotFound,
  type CustomerSegmentsErrors,
  type DeleteSegmentErrors,
  type ErrorOf,
  type GetSegmentCalculationErrors,
  type GetSegmentErrors,
  FieldNotVisible,
  InvalidSegmentCriteria,
  type ListSegmentsErrors,
  RulesEngineUnavailable,
  SegmentInUse,
  SegmentCalculationNotFound,
  type SegmentMembersErrors,
  SegmentNameTaken,
  SegmentNotDynamic,
  SegmentNotFound,
  SegmentNotManual,
  SegmentVersionConflict,
  type UpdateSegmentErrors
} from "../domain/Errors.ts"
import type {
  SegmentCalculation,
  SegmentCalculationId,
  SegmentMembersPage,
  SegmentMembersQuery
} from "../domain/SegmentCalculation.ts"
import {
  type ChangeSegmentMembers,
  changedFields,
  type CreateSegment,
  type CustomerSegments,
  type ListSegmentsQuery,
  type MembershipChanges,
  purposesRequired,
  type Segment,
  type SegmentPage,
  type UpdateSegment
} from "../domain/Segment.ts"
import type { Criterion, SegmentId } from "../domain/SegmentCriteria.ts"
import { CustomerRepo } from "../customers/CustomerRepo.ts"
import { uuidv7 } from "../platform/Ids.ts"
import { AuditLog } from "../privacy/AuditLog.ts"
import { RulesEngine } from "../platform/RulesEngine.ts"
import { type Path, personalFieldReferences, ruleReferences, rulesNamed, segmentReferences } from "./CriteriaReferences.ts"
import { SegmentCalculations } from "./SegmentCalculation.ts"
import { SegmentRepo } from "./SegmentRepo.ts"

const distinctIds = (references: ReadonlyArray<{ readonly segmentId: SegmentId }>) => [
  ...new Set(references.map((reference) => reference.segmentId))
]

/** What the store's refusals of a definition's write mean to the caller. */
const writeRefusals = {
  NameTaken: () => Effect.fail(new SegmentNameTaken({ field: "name" })),
  ReferenceGone: () =>
    Effect.fail(invalidCriteria([{ path: ["criteria"], message: "a segment the criteria name was deleted meanwhile" }]))
}

/** Criteria on a field the actor's role does not see whole are refused, naming the first such node. */
const visibleCriteria = (actor: Actor, criteria: Criterion) => {
  const hidden = personalFieldReferences(criteria).find(({ field }) => !mayQuery(actor.role, field, "whole"))
  return hidden === undefined ? Effect.void : Effect.fail(new FieldNotVisible({ field: hidden.path.join(".") }))
}

const invalidCriteria = (errors: ReadonlyArray<{ readonly path: Path; readonly message: string }>) =>
  new InvalidSegmentCriteria({ detail: errors.map((error) => error.message).join("; "), errors })

const contradictoryMarketing = () =>
  invalidCriteria([{
    path: ["marketing"],
    message: "marketing: false contradicts `marketing` among requiredPurposes: state one or the other"
  }])

export class Segments extends Context.Service<Segments, {
  get(actor: Actor, id: SegmentId): Effect.Effect<Segment, ErrorOf<typeof GetSegmentErrors>>
  list(actor: Actor, query: ListSegmentsQuery): Effect.Effect<SegmentPage, ErrorOf<typeof ListSegmentsErrors>>
  create(
    options: CommandOptions & { readonly input: CreateSegment }
  ): Effect.Effect<Segment, ErrorOf<typeof CreateSegmentErrors>>
  update(
    options: CommandOptions & {
      readonly id: SegmentId
      readonly update: UpdateSegment
      readonly expectedVersion: number | null
    }
  ): Effect.Effect<Segment, ErrorOf<typeof UpdateSegmentErrors>>
  delete(
    options: CommandOptions & { readonly id: SegmentId; readonly expectedVersion: number | null }
  ): Effect.Effect<void, ErrorOf<typeof DeleteSegmentErrors>>
  segmentsOf(
    actor: Actor,
    customerId: CustomerId
  ): Effect.Effect<CustomerSegments, ErrorOf<typeof CustomerSegmentsErrors>>
  changeMembers(
    options: CommandOptions & { readonly input: ChangeSegmentMembers }
  ): Effect.Effect<MembershipChanges, ErrorOf<typeof ChangeSegmentMembersErrors>>
  /** Queues a calculation of a dynamic segment, or answers the one already queued or running. */
  calculate(
    options: CommandOptions & { readonly id: SegmentId }
  ): Effect.Effect<SegmentCalculation, ErrorOf<typeof CalculateSegmentErrors>>
  calculation(
    actor: Actor,
    segmentId: SegmentId,
    calculationId: SegmentCalculationId
  ): Effect.Effect<SegmentCalculation, ErrorOf<typeof GetSegmentCalculationErrors>>
  members(
    actor: Actor,
    segmentId: SegmentId,
    query: SegmentMembersQuery
  ): Effect.Effect<SegmentMembersPage, ErrorOf<typeof SegmentMembersErrors>>
}>()("cms/segments/Segments") {
  static readonly layer: Layer.Layer<
    Segments,
    never,
    SegmentRepo | SegmentCalculations | CustomerRepo | AuditLog | RulesEngine
  > = Layer.effect(
    Segments,
    Effect.gen(function*() {
      const repo = yield* SegmentRepo
      const customers = yield* CustomerRepo
      const audit = yield* AuditLog
      const calculations = yield* SegmentCalculations
      const rulesEngine = yield* RulesEngine

      const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis).toISOString())

      const found = (id: SegmentId) =>
        Effect.flatMap(
          repo.findById(id),
          Option.match({ onNone: () => Effect.fail(new SegmentNotFound({ segmentId: id })), onSome: Effect.succeed })
        )

      /** The criteria's references, each naming an existing segment; the nodes naming none are the error. */
      const checkedReferences = Effect.fnUntraced(function*(criteria: Criterion) {
        const references = segmentReferences(criteria)
        const ids = distinctIds(references)
        const existing = yield* repo.existing(ids)
        const unknown = references.filter((reference) => !existing.has(reference.segmentId))
        if (unknown.length > 0) {
          return yield* invalidCriteria(unknown.map((reference) => ({
            path: reference.path,
            message: `no segment ${reference.segmentId}`
          })))
        }
        return ids
      })

      /**
       * Every rule the criteria name exists in the rules engine (asked once per distinct rule, answers cached);
       * the nodes naming none are the error. The engine not answering refuses the change: unchecked rules are
       * never stored.
       */
      const checkedRules = Effect.fnUntraced(function*(criteria: Criterion) {
        const found = yield* Effect.forEach(rulesNamed(criteria), (ruleId) =>
          Effect.map(rulesEngine.lookup(ruleId), (rule) => [ruleId, Option.isSome(rule)] as const), {
          concurrency: 4
        }).pipe(Effect.mapError((error) =>
          new RulesEngineUnavailable({ detail: `The rules engine could not be reached (${error.reason})` })
        ))
        const known = new Map(found)
        const unknown = ruleReferences(criteria).filter((reference) => known.get(reference.ruleId) !== true)
        if (unknown.length > 0) {
          return yield* invalidCriteria(unknown.map((reference) => ({
            path: reference.path,
            message: `no rule ${reference.ruleId} in the rules engine`
          })))
        }
      })

      /** A version-guarded write that matched nothing: the segment is at another version now. */
      const conflict = (expectedVersion: number, currentVersion: number) =>
        new SegmentVersionConflict({ expectedVersion, currentVersion })

      // Every role reads (see Access.ts): authentication was the whole check.
      const get = Effect.fn("Segments.get")(function*(_actor: Actor, id: SegmentId) {
        return yield* found(id)
      })

      const list = Effect.fn("Segments.list")(function*(_actor: Actor, query: ListSegmentsQuery) {
        return yield* repo.list(query)
      })

      const create = Effect.fn("Segments.create")(function*(
        { actor, requestId, input }: CommandOptions & { readonly input: CreateSegment }
      ) {
        yield* requirePermission(actor, "segments:manage")
        if (input.type === "dynamic") yield* visibleCriteria(actor, input.criteria)
        const references = input.type === "dynamic" ? yield* checkedReferences(input.criteria) : []
        if (input.type === "dynamic") yield* checkedRules(input.criteria)
        const at = yield* now
        const requiredPurposes = input.type === "dynamic" ? purposesRequired([], input) : []
        if (requiredPurposes === undefined) return yield* contradictoryMarketing()
        const segment: Segment = {
          id: uuidv7() as SegmentId,
          name: input.name,
          description: input.description ?? null,
          type: input.type,
          criteria: input.type === "dynamic" ? input.criteria : null,
          marketing: requiredPurposes.includes("marketing"),
          requiredPurposes,
          memberCount: 0,
          lastCalculatedAt: null,
          createdBy: `${actor.kind}:${actor.subject}`,
          version: 1,
          createdAt: at,
          updatedAt: at
        }
        // A new segment cannot be referenced yet, so its references cannot make a cycle.
        const fields = Object.keys(input)
        const entry = { actor, action: "segment.create", segmentId: segment.id, requestId, fields }
        // A dynamic segment's first members are calculated at once, committed with the definition.
        const firstCalculation = input.type === "dynamic"
          ? [calculations.queueStatement(segment.id, "created", new Date(at))]
          : []
        yield* repo.insert(segment, references, audit.recordStatement(entry), firstCalculation).pipe(
          Effect.catchTags(writeRefusals)
        )
        if (firstCalculation.length > 0) yield* calculations.wake
        return segment
      })

      const update = Effect.fn("Segments.update")(function*(
        { actor, requestId, id, update, expectedVersion }: CommandOptions & {
          readonly id: SegmentId
          readonly update: UpdateSegment
          readonly expectedVersion: number | null
        }
      ) {
        yield* requirePermission(actor, "segments:manage")
        if (update.criteria !== undefined) yield* visibleCriteria(actor, update.criteria)
        const before = yield* found(id)
        if (expectedVersion !== null && expectedVersion !== before.version) {
          return yield* new SegmentVersionConflict({ expectedVersion, currentVersion: before.version })
        }
        if (update.criteria !== undefined && before.type === "manual") {
          return yield* invalidCriteria([{
            path: ["criteria"],
            message: "a manual segment has no criteria: its members are added and removed by hand"
          }])
        }
        // A hand-kept list is marketed to through a marketing dynamic segment naming it (`{"kind": "segment"}`),
        // so the consent rule has one place: the criteria both evaluators read. Likewise any required purpose.
        if (update.marketing === true && before.type === "manual") {
          return yield* invalidCriteria([{
            path: ["marketing"],
            message: "a manual segment cannot be a marketing segment: define a dynamic marketing segment naming it"
          }])
        }
        if (update.requiredPurposes !== undefined && update.requiredPurposes.length > 0 && before.type === "manual") {
          return yield* invalidCriteria([{
            path: ["requiredPurposes"],
            message: "a manual segment requires no purposes: define a dynamic segment naming it that does"
          }])
        }
        const requiredPurposes = purposesRequired(before.requiredPurposes, update)
        if (requiredPurposes === undefined) return yield* contradictoryMarketing()
        if (changedFields(update).length === 0) return before
        const references = update.criteria === undefined ? undefined : yield* checkedReferences(update.criteria)
        if (update.criteria !== undefined) yield* checkedRules(update.criteria)
        const { marketing: _marketing, requiredPurposes: _purposes, version: _, ...definition } = update
        const purposesChange = requiredPurposes.join() === before.requiredPurposes.join() ? {} : { requiredPurposes }
        const changes = { ...definition, ...purposesChange }
        // Guarded by the version read above, so a change in between is a conflict, never overwritten.
        const entry = { actor, action: "segment.update", segmentId: id, requestId, fields: changedFields(update) }
        const at = yield* now
        // New criteria, new members: the recalculation is queued in the transaction that changes them.
        const recalculation = update.criteria === undefined && purposesChange.requiredPurposes === undefined
          ? []
          : [calculations.queueStatement(id, "criteria-changed", new Date(at))]
        const outcome = yield* repo.update(id, before.version, changes, references, at, audit.recordStatement(entry), recalculation)
          .pipe(Effect.catchTags(writeRefusals))
        switch (outcome._tag) {
          case "Done":
            if (recalculation.length > 0) yield* calculations.wake
            return outcome.value
          case "Cycle": {
            const through = new Set(outcome.through)
            // Only new criteria carry references to check.
            return yield* invalidCriteria(
              (update.criteria === undefined ? [] : segmentReferences(update.criteria)).filter((reference) => through.has(reference.segmentId)).map(
                (reference) => ({
                  path: reference.path,
                  message: reference.segmentId === id
                    ? "a segment cannot be defined by its own membership"
                    : `segment ${reference.segmentId} depends on this segment: a cycle`
                })
              )
            )
          }
          case "NotFound":
            return yield* new SegmentNotFound({ segmentId: id })
          case "Stale":
            return yield* conflict(before.version, outcome.currentVersion)
        }
      })

      const remove = Effect.fn("Segments.delete")(function*(
        { actor, requestId, id, expectedVersion }: CommandOptions & {
          readonly id: SegmentId
          readonly expectedVersion: number | null
        }
      ) {
        yield* requirePermission(actor, "segments:manage")
        const entry = { actor, action: "segment.delete", segmentId: id, requestId, fields: [] }
        const outcome = yield* repo.delete(id, expectedVersion, audit.recordGuardedStatement(entry))
        switch (outcome._tag) {
          case "Done":
            return
          case "InUse":
            return yield* new SegmentInUse({
              referencedBy: outcome.referencedBy,
              detail: "Change or delete the segments whose criteria refer to it first"
            })
          case "NotFound":
            return yield* new SegmentNotFound({ segmentId: id })
          case "Stale":
            // Only a guarded delete can find another version.
            return yield* conflict(expectedVersion ?? outcome.currentVersion, outcome.currentVersion)
        }
      })

      const segmentsOf = Effect.fn("Segments.segmentsOf")(function*(_actor: Actor, customerId: CustomerId) {
        const customer = yield* customers.lookup(customerId)
        if (Option.isNone(customer)) return yield* new CustomerNotFound({ customerId })
        return { data: yield* repo.segmentsOf(customerId) }
      })

      const changeMembers = Effect.fn("Segments.changeMembers")(function*(
        { actor, requestId, input }: CommandOptions & { readonly input: ChangeSegmentMembers }
      ) {
        yield* requirePermission(actor, "segments:manage")
        // One entry per call, naming the segment and not the customers: an erased customer's audiences go with
        // their memberships (SegmentRepo.eraseCustomer), and the audit trail keeps none of them.
        const entry = { actor, action: `segment.members.${input.action}`, segmentId: input.segmentId, requestId, fields: [] }
        const changed = yield* repo.changeMembers(
          input.segmentId,
          input.action,
          input.customerIds,
          yield* now,
          audit.recordGuardedStatement(entry)
        )
        if (Option.isNone(changed)) return yield* new SegmentNotFound({ segmentId: input.segmentId })
        if (changed.value.type !== "manual") {
          return yield* new SegmentNotManual({
            field: "segmentId",
            detail: "A dynamic segment's members are the customers its criteria match"
          })
        }
        // Segments defined by this one's membership follow it. After the commit, not in it: a crash in between
        // leaves them stale until their next calculation.
        if (changed.value.outcomes.some((outcome) => outcome === "added" || outcome === "removed")) {
          yield* calculations.recalculateDependents(input.segmentId)
        }
        return {
          segmentId: input.segmentId,
          results: input.customerIds.map((customerId, index) => ({ customerId, outcome: changed.value.outcomes[index] })),
          memberCount: changed.value.memberCount
        }
      })

      const calculate = Effect.fn("Segments.calculate")(function*(
        { actor, id }: CommandOptions & { readonly id: SegmentId }
      ) {
        yield* requirePermission(actor, "segments:manage")
        const segment = yield* found(id)
        if (segment.type !== "dynamic") {
          return yield* new SegmentNotDynamic({
            segmentId: id,
            detail: "A manual segment's members are added and removed by hand (POST /api/v1/customers/bulk/segments)"
          })
        }
        return yield* calculations.request(id, "requested")
      })

      const calculation = Effect.fn("Segments.calculation")(function*(
        _actor: Actor,
        segmentId: SegmentId,
        calculationId: SegmentCalculationId
      ) {
        yield* found(segmentId)
        const job = yield* calculations.find(segmentId, calculationId)
        if (Option.isNone(job)) return yield* new SegmentCalculationNotFound({ calculationId })
        return job.value
      })

      const members = Effect.fn("Segments.members")(function*(
        _actor: Actor,
        segmentId: SegmentId,
        query: SegmentMembersQuery
      ) {
        yield* found(segmentId)
        return yield* repo.members(segmentId, query)
      })

      return Segments.of({
        get,
        list,
        create,
        update,
        delete: remove,
        segmentsOf,
        changeMembers,
        calculate,
        calculation,
        members
      })
    })
  )
}
