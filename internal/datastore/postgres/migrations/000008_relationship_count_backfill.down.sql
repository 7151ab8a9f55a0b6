-- Nothing to undo: migration 7's down drops the column, and applying this migration
-- again recounts.
SELECT 1;
