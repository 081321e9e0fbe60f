-- DefPool schema, SQLite flavour (the embedded default).
-- Money is BIGINT atomic units, time is BIGINT unix milliseconds, flags are 0/1.

CREATE TABLE miners (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    coin          TEXT    NOT NULL,
    address       TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    last_share_at BIGINT,
    UNIQUE (coin, address)
);
CREATE INDEX miners_address ON miners (address);

CREATE TABLE workers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    coin          TEXT    NOT NULL,
    miner         TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    last_share_at BIGINT,
    UNIQUE (coin, miner, name)
);

-- Append-mostly and the hottest table: no AUTOINCREMENT (its bookkeeping costs a write
-- per row) and only the indexes the round and hashrate queries need.
CREATE TABLE shares (
    id                 INTEGER PRIMARY KEY,
    coin               TEXT    NOT NULL,
    miner              TEXT    NOT NULL,
    worker             TEXT    NOT NULL,
    difficulty         REAL    NOT NULL,
    network_difficulty REAL    NOT NULL,
    height             BIGINT  NOT NULL,
    accepted           BIGINT  NOT NULL,
    solo               BIGINT  NOT NULL DEFAULT 0,
    created_at         BIGINT  NOT NULL
);
-- PPLNS/PROP rounds walk a coin's accepted pool shares backwards from a share id.
CREATE INDEX shares_round ON shares (coin, id) WHERE accepted = 1 AND solo = 0;
-- Per-miner stats and hashrate over a recent window.
-- Keyed on a 12-character prefix of the address, not all ~95 characters: the long
-- key made this index the main cost of every share insert. Queries repeat the
-- expression and then compare the full address.
CREATE INDEX shares_miner_time ON shares (substr(miner, 1, 12), created_at);
-- Pool hashrate over a recent window.
CREATE INDEX shares_coin_time ON shares (coin, created_at);

CREATE TABLE blocks (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    coin               TEXT    NOT NULL,
    height             BIGINT  NOT NULL,
    hash               TEXT    NOT NULL,
    reward             BIGINT  NOT NULL CHECK (reward >= 0),
    finder             TEXT    NOT NULL,
    worker             TEXT    NOT NULL,
    mode               TEXT    NOT NULL CHECK (mode IN ('pool', 'solo')),
    scheme             TEXT    NOT NULL CHECK (scheme IN ('pplns', 'prop', 'solo')),
    network_difficulty REAL    NOT NULL,
    last_share_id      BIGINT  NOT NULL,
    -- Split parameters in force when the block was found, so a later config change
    -- never changes (or fails the audit of) an old block.
    fee_ppm            BIGINT  NOT NULL CHECK (fee_ppm BETWEEN 0 AND 1000000),
    pplns_factor       REAL    NOT NULL,
    status             TEXT    NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'confirmed', 'orphaned')),
    credits_computed   BIGINT  NOT NULL DEFAULT 0,
    confirmations      BIGINT  NOT NULL DEFAULT 0,
    maturity           BIGINT  NOT NULL,
    found_at           BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    UNIQUE (coin, hash)
);
CREATE INDEX blocks_status ON blocks (status, coin);
CREATE INDEX blocks_coin ON blocks (coin, id);
CREATE INDEX blocks_finder ON blocks (finder);

-- The split of a block's reward, fixed when its round is computed. Immature until the
-- block is confirmed; dropped from balances (kept here for history) if orphaned.
CREATE TABLE block_credits (
    block_id INTEGER NOT NULL REFERENCES blocks (id),
    coin     TEXT    NOT NULL,
    account  TEXT    NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('block_reward', 'pool_fee')),
    amount   BIGINT  NOT NULL CHECK (amount > 0),
    PRIMARY KEY (block_id, account, kind)
);
CREATE INDEX block_credits_account ON block_credits (coin, account);

CREATE TABLE ledger_entries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    coin       TEXT    NOT NULL,
    account    TEXT    NOT NULL,
    kind       TEXT    NOT NULL
               CHECK (kind IN ('block_reward', 'pool_fee', 'payout', 'payout_refund', 'adjustment')),
    delta      BIGINT  NOT NULL CHECK (delta <> 0),
    block_id   BIGINT,
    payout_id  BIGINT,
    created_at BIGINT  NOT NULL
);
CREATE INDEX ledger_account ON ledger_entries (coin, account, id);
-- A block can credit an account once per kind; a payout is debited and refunded once.
CREATE UNIQUE INDEX ledger_block_once ON ledger_entries (block_id, account, kind) WHERE block_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_payout_once ON ledger_entries (payout_id, kind) WHERE payout_id IS NOT NULL;

-- The ledger is append-only: corrections are new entries, never edits.
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries are append-only');
END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries are append-only');
END;

-- Projection of ledger_entries (balance), pending block_credits (immature) and
-- completed payouts (paid), kept in the same transaction as each entry.
CREATE TABLE balances (
    coin       TEXT   NOT NULL,
    account    TEXT   NOT NULL,
    balance    BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    immature   BIGINT NOT NULL DEFAULT 0 CHECK (immature >= 0),
    paid       BIGINT NOT NULL DEFAULT 0 CHECK (paid >= 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (coin, account)
);
CREATE INDEX balances_account ON balances (account);

CREATE TABLE payouts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    coin          TEXT    NOT NULL,
    account       TEXT    NOT NULL,
    amount        BIGINT  NOT NULL CHECK (amount > 0),
    fee           BIGINT,
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    reason        TEXT,
    tx_hash       TEXT,
    origin        TEXT    NOT NULL CHECK (origin IN ('manual', 'auto')),
    attempts      BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    processing_at BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
CREATE INDEX payouts_account ON payouts (account, id);
CREATE INDEX payouts_status ON payouts (status, coin, id);
-- One open payout per account and coin: a second request cannot race the first.
CREATE UNIQUE INDEX payouts_one_open ON payouts (coin, account) WHERE status IN ('pending', 'processing');

CREATE TABLE payout_settings (
    coin          TEXT   NOT NULL,
    account       TEXT   NOT NULL,
    threshold     BIGINT NOT NULL CHECK (threshold > 0),
    target_coin   TEXT   NOT NULL,
    auto_exchange BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (coin, account)
);

-- updated_at follows every change even when a statement forgets it.
CREATE TRIGGER miners_touch AFTER UPDATE ON miners WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE miners SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id;
END;
CREATE TRIGGER workers_touch AFTER UPDATE ON workers WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE workers SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id;
END;
CREATE TRIGGER blocks_touch AFTER UPDATE ON blocks WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE blocks SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id;
END;
CREATE TRIGGER balances_touch AFTER UPDATE ON balances WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE balances SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    WHERE coin = NEW.coin AND account = NEW.account;
END;
CREATE TRIGGER payouts_touch AFTER UPDATE ON payouts WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE payouts SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id;
END;
CREATE TRIGGER payout_settings_touch AFTER UPDATE ON payout_settings WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE payout_settings SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    WHERE coin = NEW.coin AND account = NEW.account;
END;
