-- A payout transaction is built and signed first (recorded here with its hash and
-- fee while the payout is `processing`), then broadcast. After a crash or an unclear
-- broadcast the node republishes exactly this transaction instead of building a new
-- one, so a payout can never be paid twice. Cleared once the payout completes.
ALTER TABLE payouts ADD COLUMN signed_tx TEXT;
