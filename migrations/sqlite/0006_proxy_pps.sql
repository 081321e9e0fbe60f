-- Proxy mode: every share forwarded upstream with the upstream's verdict and, once
-- accepted, its PPS credit (share difficulty / network difficulty x block reward,
-- less the fee, at the network data of the share's time). Credits reach balances
-- through ledger entries of kind 'pps_credit' (one per account per crediting pass);
-- `ledger_entry` ties each credited share to the entry that carries it, so the audit
-- can recompute every PPS entry from its shares.
CREATE TABLE proxy_shares (
    id                 INTEGER PRIMARY KEY,
    coin               TEXT    NOT NULL,
    miner              TEXT    NOT NULL,
    worker             TEXT    NOT NULL,
    upstream           TEXT    NOT NULL,
    difficulty         REAL    NOT NULL CHECK (difficulty > 0),
    status             TEXT    NOT NULL CHECK (status IN ('accepted', 'rejected', 'lost')),
    reason             TEXT,
    network_difficulty REAL,
    block_reward       BIGINT,
    credit             BIGINT  NOT NULL DEFAULT 0 CHECK (credit >= 0),
    fee                BIGINT  NOT NULL DEFAULT 0 CHECK (fee >= 0),
    ledger_entry       BIGINT,
    created_at         BIGINT  NOT NULL
);
CREATE INDEX proxy_shares_uncredited ON proxy_shares (coin, id)
    WHERE status = 'accepted' AND ledger_entry IS NULL;
CREATE INDEX proxy_shares_miner ON proxy_shares (miner, id);

-- SQLite cannot change a CHECK constraint in place: rebuild ledger_entries with the
-- new kind, keeping every row, index and the append-only triggers.
DROP TRIGGER ledger_entries_no_update;
DROP TRIGGER ledger_entries_no_delete;
CREATE TABLE ledger_entries_v6 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    coin       TEXT    NOT NULL,
    account    TEXT    NOT NULL,
    kind       TEXT    NOT NULL
               CHECK (kind IN ('block_reward', 'pool_fee', 'payout', 'payout_refund', 'adjustment', 'pps_credit')),
    delta      BIGINT  NOT NULL CHECK (delta <> 0),
    block_id   BIGINT,
    payout_id  BIGINT,
    created_at BIGINT  NOT NULL
);
INSERT INTO ledger_entries_v6 (id, coin, account, kind, delta, block_id, payout_id, created_at)
    SELECT id, coin, account, kind, delta, block_id, payout_id, created_at FROM ledger_entries;
DROP TABLE ledger_entries;
ALTER TABLE ledger_entries_v6 RENAME TO ledger_entries;
CREATE INDEX ledger_account ON ledger_entries (coin, account, id);
CREATE UNIQUE INDEX ledger_block_once ON ledger_entries (block_id, account, kind) WHERE block_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_payout_once ON ledger_entries (payout_id, kind) WHERE payout_id IS NOT NULL;
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries are append-only');
END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries are append-only');
END;
