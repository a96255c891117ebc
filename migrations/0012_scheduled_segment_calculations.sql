-- Segments whose criteria read the clock (relative windows, churn risk, engagement) are recalculated on a
-- schedule: their jobs carry the trigger 'scheduled'.
ALTER TABLE segment_calculations DROP CONSTRAINT segment_calculations_trigger_check;
ALTER TABLE segment_calculations ADD CONSTRAINT segment_calculations_trigger_check
  CHECK (trigger IN ('requested', 'created', 'criteria-changed', 'dependency-changed', 'scheduled'));
