-- The live stream announces payouts changed during each processor pass.
CREATE INDEX payouts_coin_updated ON payouts (coin, updated_at);
