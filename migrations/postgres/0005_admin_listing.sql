-- `GET /miners` pages a coin's miners newest first; the unique (coin, address) index
-- cannot serve that order.
CREATE INDEX miners_coin_id ON miners (coin, id);
-- A miner's workers (`GET /miners/{wallet}`) are looked up by address; the unique
-- (coin, miner, name) index starts with the coin.
CREATE INDEX workers_miner ON workers (miner, coin);
-- A failed payout retried by the operator (`POST /payouts/{id}/retry`) names the
-- payout it retries. Unique: a failed payout is retried at most once, so a repeated
-- request can never pay its amount twice.
ALTER TABLE payouts ADD COLUMN retry_of BIGINT;
CREATE UNIQUE INDEX payouts_retry_once ON payouts (retry_of) WHERE retry_of IS NOT NULL;
