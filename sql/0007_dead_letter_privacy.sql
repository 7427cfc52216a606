-- Dead letters as analysts read them. `raw` holds a redacted form from now on
-- (schemas/dead_letter.py: third parties' ids and unknown fields replaced);
-- the original bytes stay on chorus.dlq, which only the operator role reads,
-- for its retention (docs/operations.md). `size` and `digest` describe the
-- whole input, so it can be found and told apart without its bytes.
ALTER TABLE dead_letters ADD COLUMN size UInt64 DEFAULT length(raw);
ALTER TABLE dead_letters ADD COLUMN digest String DEFAULT '';
-- Rows stored before this migration held the original bytes.
ALTER TABLE dead_letters UPDATE raw = '[redacted] stored before redaction' WHERE digest = '';
