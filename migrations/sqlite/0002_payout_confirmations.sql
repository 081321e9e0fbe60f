-- Confirmations of a payout's transaction, followed until final.
ALTER TABLE payouts ADD COLUMN confirmations BIGINT NOT NULL DEFAULT 0;
