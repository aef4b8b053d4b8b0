// Package store is the write path of otelcol-analytics: it stores batches of
// normalised business-event log records (see internal/catalog/attrs.go) in
// PostgreSQL and applies their counter deltas to Redis, exactly once.
//
// # Exactly once
//
// An event is identified by its product and event id: one product's ids
// never hide another's events. One batch is one PostgreSQL transaction. The
// accepted records' (product, id) are entered into the event-id ledger
// (analytics_event_ids, primary key (product, event_id), with the record's
// content hash) and their rows into analytics_events (primary key (product,
// event_id, business_date)) by two binary COPYs, in (product, id) order;
// the counter deltas of exactly those rows (a COPY inserts all its rows or
// fails) are summed in Go; one statement adds them to the rollup tables,
// stores the rejected records, and records the deltas as an outbox row
// (analytics_redis_outbox) under a fresh batch id. An id stored before makes
// the ledger's primary key refuse the COPY (23505 on
// analytics_event_ids_pkey): the batch is then run again after looking its
// ids up (one query, a primary-key probe per id, which also returns the
// stored content hash and business day), and only the new ones are copied.
// After a batch met such an id, the next batches look their ids up first.
// The same path catches a concurrent batch that stored one of the ids
// between the look-up and the COPY. After the commit the outbox row is
// applied to Redis and deleted (see The outbox). So:
//
//   - a resent or retried batch inserts nothing and produces no deltas;
//   - a crash or Redis outage between commit and Redis leaves the outbox row,
//     which ApplyPendingOutbox applies later (at start and periodically);
//   - an outbox row reaches Redis once, whatever crashes, fails or runs
//     concurrently (two collectors, a rebuild), below.
//
// Redis never learns an id before PostgreSQL has committed it.
//
// # The outbox
//
// Every applier of the outbox row of a batch X (X's own Write,
// ApplyPendingOutbox in any collector) follows one protocol (outbox.go):
//
//  1. in a transaction T, delete X's row, unless another transaction holds
//     it (FOR UPDATE SKIP LOCKED). T holds the row's lock from then on;
//     nothing deleted: nothing to do;
//  2. counters.Layout.Apply: one Lua script which, if X's claim key exists,
//     writes nothing; otherwise checks every increment (no overflow, only
//     integer counters), then sets the claim (no TTL) and applies all the
//     increments;
//  3. commit T;
//  4. after a successful commit only, delete the claim.
//
// A batch Redis refuses (overflow), one held by an interrupted rebuild and
// a row whose deltas cannot be decoded are rolled back at step 2 and left
// in the outbox, logged once (StuckOutbox); the rows after them go on.
//
// A row whose deltas cannot be decoded is quarantined (migration 009): in
// the same drain its applier sets quarantined_reason (the decode error,
// naming the batch, and how to repair it) and quarantined_at, and logs it;
// no applier takes a row with a reason, in any collector, before or after
// a restart, so it is tried and logged once in all. Its counts are in the
// rollups, not in Redis. The row and its deltas stay as they were for an
// operator (analyticsctl verify lists it; rebuild refuses until it is
// repaired), who either fixes the deltas and sets both columns back to
// NULL (the next outbox pass applies the row), or deletes the row, after
// noting its days, and rebuilds those days.
// SweepClaims deletes the claims whose row is gone (a crash before step 4,
// a failing DEL).
//
// Invariant: while X's row exists, X's claim exists exactly when X's
// increments are in Redis. It holds in every state an applier, a crash or
// a failure can reach:
//
//   - The batch transaction commits X's row before any claim of X can
//     exist, with no increments of X in Redis. X is a fresh UUID: once
//     deleted, its row never comes back.
//   - Step 2 is atomic and all or nothing: a script error on the way would
//     leave part of a batch applied, so the script first checks that no
//     HINCRBY can fail, and writes the claim and the increments together or
//     not at all (a refused batch writes nothing). If the claim exists it
//     writes nothing. A Redis error of unknown outcome leaves one of the
//     two states, both within the invariant.
//   - Only the holder of X's row lock runs step 2 for X, so one applier at a
//     time: an applier that read X's id before (ApplyPendingOutbox's page)
//     calls Apply only after taking the row at step 1.
//   - A crash or failure before step 3 rolls T back: the row is back, with
//     the claim and the increments or with neither; the next applier
//     applies X or finds it applied.
//   - A commit that fails (committed or not, unknown) keeps the claim: if
//     the row is back, its next apply is a no-op; if it is gone, the claim
//     is a leftover.
//   - The claim goes (step 4, SweepClaims) only once the row's delete is
//     committed: from then on no applier passes step 1 for X again, so the
//     claim protects nothing. SweepClaims reads the claim and then looks for
//     the row; a row it does not see is deleted by a committed transaction
//     (an uncommitted delete still shows the row to others). It spares
//     claims younger than Layout.ClaimTTL (10 minutes by default), which
//     their applier deletes itself.
//   - A claim does not expire. Redis loses it only by eviction under an
//     allkeys-* policy (counters.CheckEvictionPolicy refuses those; the
//     volatile-* ones evict keys with a TTL only) or by losing its data,
//     counters with it (analyticsctl rebuild).
//
// So X is applied at most once: a second apply needs step 2 to find no
// claim while the row exists, after the first one set it. And at least
// once: the row stays until a transaction commits step 3 after step 2
// applied X or found it applied.
//
// analyticsctl rebuild --force, which replaces pending batches by the
// rollups, holds their rows locked (FOR UPDATE) for its whole run, sets
// their claims to "held" (counters.Layout.HoldClaims) before it writes
// Redis, deletes the rows in the same transaction and then the claims. An
// applier meeting a held claim (a rebuild that failed half way) leaves the
// row alone: the rebuild's rerun settles it.
//
// # Duplicates and conflicts
//
// The eventcatalog processor sets catalog.AttrContentHash, a 16-byte hash of
// what the event says, on every accepted record. A record whose (product,
// id) is stored already, or earlier in the same batch, is:
//
//   - a duplicate (Result.Duplicates) when the two hashes are equal or one
//     is unknown (a record without the attribute, or a ledger row from
//     before migration 006): a resend, silently counted once;
//   - a conflict (Result.Conflicts) when both are known and differ: the
//     stored event is kept and the record is stored in the rejected table
//     with reason duplicate_conflict, field event.id and a message naming
//     the business day of the stored event. Inside a batch the first record
//     of an id is the stored one, unless the ledger holds the id already:
//     every record of the batch is then judged against the ledger's hash.
//
// # Retention
//
// analytics_events is partitioned by business month. Retention
// (DropPartitionsBefore) drops whole months and keeps their rollups; each
// dropped month is marked retired (analytics_retired_months, migration 007)
// in the same transaction, and its ledger rows are deleted right after, in
// short transactions of their own that block no writer (migration 010). A
// retired month is final: an accepted record of it is stored in the rejected
// table with reason beyond_retention and counted nowhere, and its partition
// is never created again, so a resend, backfill or replay after retention
// cannot count an event twice. See retention.go for the cache and the race
// with a retention run in progress.
//
// # Rejected records
//
// Rejected, unnormalised, refused and conflicting records go to
// analytics_rejected_events, once per dedup_key (ON CONFLICT DO NOTHING), so
// a resent refusal adds nothing whether or not it has an event id. The key
// of a record the processor rejected is its catalog.AttrRejectKey; the store
// builds the key of its own rows (and of rejected records without the
// attribute) from the reason, product, event id and whole raw form (for a
// conflict: its content hash), see rejectKey. An accepted record that carries
// catalog.AttrRejectKey is a rejected row replayed by analyticsctl: a
// refusal or conflict of it is stored under that key, so it lands on the row
// it came from. raw is the record's OTLP/JSON
// without analytics.* attributes, at most MaxRawBytes of it (raw_truncated),
// with raw_size and raw_sha256 of the whole; a record the processor cut
// (catalog.AttrRawTruncated) keeps its body and the processor's size and
// sha256. Text columns are sanitised and cut to 1 KiB (message 4 KiB), and no
// index covers a long text column, so a rejected row is always storable.
//
// # Errors
//
// Write returns transient errors (connection refused or lost, timeouts,
// serialization failures and deadlocks, admin shutdown, too many
// connections, and anything else that is not about the data) as they are:
// the caller retries the whole batch, which is idempotent. A data error
// (SQLSTATE classes 22, 23 and 54, except the ledger refusing a known id) is
// isolated: the record a COPY error names is tried alone, otherwise the
// batch is split in halves, until the refused records stand alone. Those are
// stored in the rejected table with reason storage_refused and PostgreSQL's
// message, and the rest is stored normally. A rejected row PostgreSQL still
// refuses (a constraint added by hand) is replaced by a stand-in that keeps
// its reason, dedup key, size and sha256, with a short JSON note as raw;
// only if that is refused too does Write return a PermanentError, after
// storing the rest. A batch therefore never fails forever because of its
// content.
//
// The package depends on pgx, go-redis and pdata only, so analyticsctl
// (replay-rejected) uses it as well as the exporter.
package store
