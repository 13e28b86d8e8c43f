//! The recent tier of events and its move into the person-clustered one.
//!
//! Arrivals go to one of [`PARTS`] recent tables, `events_recent_{n}`, by
//! the top bits of the person's key (id order, a per-person index that
//! stays small because the table does); a batch over many people dirties
//! few pages there. Once a part holds [`RECENT_PER_PART`] rows, the writer
//! moves all of it into `events`, sorted by person, in one transaction
//! after a commit: each person's rows land next to their older ones, a few
//! pages per person per move instead of a leaf per person per batch, and
//! the part's pages are freed whole. A part is a sixteenth of the tier, so
//! a move holds other writes off for a sixteenth of the time one big move
//! did (one move of 20,000 rows put 150 ms into `bench load`'s write p99).
//! While a bulk load outruns the moves (one per commit), parts grow past
//! their size; they are moved whole, so nothing is left behind.
//! A crash mid-move rolls it back; rows are in exactly one table at every
//! commit.
//!
//! A paged scan (`scan_events`) goes through `events` in key order, then
//! each part in id order; a move between two pages would carry rows from
//! a later part behind the cursor. So the writer does not move while a
//! scan is open (first page read, last not yet) and has read a page in the
//! last [`SCAN_LEASE_MILLIS`]: a scan its caller dropped halfway holds
//! moves off no longer than that. The parts grow meanwhile; nothing is
//! lost.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::Result;

/// Recent tables; a person's events are all in the one their key picks.
pub(super) const PARTS: usize = 16;

/// Rows in a part that trigger its move: 16 parts of 625 are 10,000 rows
/// (~1.5 MB), so erasing someone rewrites at most their share of that; a
/// move is a short write, and with 1,000 people it writes ~10 rows per
/// person, about one leaf each. (1,250 put the moves into `bench load`'s write
/// p99; holding moves back while writes queued made them larger and
/// worse.)
pub(super) const RECENT_PER_PART: u64 = 625;

/// How long after its last page an unfinished scan holds moves off.
const SCAN_LEASE_MILLIS: i64 = 10_000;

/// The recent table a person's events go to.
pub(super) fn part_of(subject_key: i64) -> usize {
    (subject_key as u64 >> 60) as usize
}

/// The name of recent table `part`.
pub(super) fn recent_table(part: usize) -> String {
    format!("events_recent_{part}")
}

/// The stored columns of an event, in the clustered and the recent tables.
const EVENT_COLUMNS: &str =
    "subject_key, id, key_id, digest, kind, item, purpose, at, sealed_properties";

/// Inserts one event (parameters in [`EVENT_COLUMNS`] order) into recent
/// table `part`.
pub(super) fn insert_sql(part: usize) -> String {
    format!(
        "INSERT INTO {} ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        recent_table(part)
    )
}

/// One page of `columns` from part `part` of the events (0: the clustered
/// table in key order; n + 1: recent table n, by id), after the key
/// `(?1, ?2)` (a recent table pages by id only, `?2`), with `filter`
/// (`AND …`, parameters from `?3`) and at most `limit` (a parameter) rows.
/// The retention sweep and the paged scan walk the parts alike.
pub(super) fn page_sql(part: usize, columns: &str, filter: &str, limit: &str) -> String {
    if part == 0 {
        format!(
            "SELECT {columns} FROM events WHERE (subject_key, id) > (?1, ?2) {filter}
             ORDER BY subject_key, id LIMIT {limit}"
        )
    } else {
        // `?1 IS NOT NULL` uses the key parameter, so both take the same.
        format!(
            "SELECT {columns} FROM {} WHERE ?1 IS NOT NULL AND id > ?2 {filter}
             ORDER BY id LIMIT {limit}",
            recent_table(part - 1)
        )
    }
}

/// Creates the recent tables (schema migration 9).
pub(super) fn create_recent_tables(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    for part in 0..PARTS {
        let t = recent_table(part);
        tx.execute_batch(&format!(
            "CREATE TABLE {t} (
                id INTEGER PRIMARY KEY,
                subject_key INTEGER NOT NULL,
                key_id INTEGER NOT NULL,
                digest BLOB NOT NULL,
                kind TEXT NOT NULL,
                item TEXT,
                purpose INTEGER NOT NULL,
                at INTEGER NOT NULL,
                sealed_properties BLOB NOT NULL
            );
            CREATE INDEX {t}_by_subject ON {t} (subject_key, id);"
        ))?;
    }
    Ok(())
}

/// The writer's view of the recent tables.
#[derive(Default)]
pub(super) struct RecentTier {
    /// Rows added to each part since its last move (by this process:
    /// another process writing the same file moves on its own count).
    added: [AtomicU64; PARTS],
    /// Scans whose first page was read and whose last was not.
    open_scans: AtomicI64,
    /// When (Unix millis) a scan last read a page.
    last_scan_page: AtomicI64,
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl RecentTier {
    /// Starts from the rows the parts hold on opening.
    pub(super) fn open(conn: &Connection) -> Result<Self> {
        let tier = RecentTier::default();
        for (part, added) in tier.added.iter().enumerate() {
            let n: i64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM {}", recent_table(part)),
                [],
                |r| r.get(0),
            )?;
            added.store(n.max(0) as u64, Ordering::Relaxed);
        }
        Ok(tier)
    }

    /// A scan's page is about to be read. The caller holds the writer for
    /// a scan's first page, so no move is half done while it reads.
    pub(super) fn scan_page(&self, first: bool) {
        if first {
            self.open_scans.fetch_add(1, Ordering::Relaxed);
        }
        self.last_scan_page.store(now_millis(), Ordering::Relaxed);
    }

    /// A scan read its last page.
    pub(super) fn scan_done(&self) {
        let _ = self
            .open_scans
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some((n - 1).max(0))
            });
    }

    fn held_by_scan(&self) -> bool {
        self.open_scans.load(Ordering::Relaxed) > 0
            && now_millis() < self.last_scan_page.load(Ordering::Relaxed) + SCAN_LEASE_MILLIS
    }

    /// After a committed write that added `per_part[n]` events to part
    /// `n`: moves the fullest part if it is full and no scan holds the
    /// tier; one part per write, so moves spread over commits. The write
    /// is already durable, so a failed move is reported, not returned: its
    /// rows stay where they are and a later write tries again.
    pub(super) fn added(&self, conn: &mut Connection, per_part: &[u64; PARTS]) {
        let mut fullest = (0, 0);
        for (part, (counter, &n)) in self.added.iter().zip(per_part).enumerate() {
            let total = counter.fetch_add(n, Ordering::Relaxed) + n;
            if total > fullest.1 {
                fullest = (part, total);
            }
        }
        if fullest.1 < RECENT_PER_PART || self.held_by_scan() {
            return;
        }
        match settle(conn, fullest.0) {
            Ok(_) => self.added[fullest.0].store(0, Ordering::Relaxed),
            Err(e) => tracing::warn!(
                error = %e,
                "moving recent events failed; retried on a later write"
            ),
        }
    }
}

/// Moves every event of recent table `part` into the person-clustered
/// table, in one transaction; returns how many moved.
pub(super) fn settle(conn: &mut Connection, part: usize) -> Result<u64> {
    let t = recent_table(part);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let moved = tx.execute(
        &format!(
            "INSERT INTO events ({EVENT_COLUMNS})
             SELECT {EVENT_COLUMNS} FROM {t} ORDER BY subject_key, id"
        ),
        [],
    )?;
    tx.execute(&format!("DELETE FROM {t}"), [])?;
    tx.commit()?;
    Ok(moved as u64)
}

#[cfg(test)]
mod tests {
    use fineline_core::{EventKind, Pseudonym, Purpose, Timestamp};

    use crate::{EventScan, EventTables, NewEvent, WriteOp, WriteSet, WriteTables};

    fn event(subject: Pseudonym, purpose: Purpose, at: i64) -> NewEvent {
        NewEvent {
            subject,
            kind: EventKind::new("view").unwrap(),
            item: None,
            purpose,
            at: Timestamp(at),
            sealed_properties: vec![1],
        }
    }

    /// Every read and deletion sees both tiers: events moved and events
    /// still recent, each once, in id order per person; a move keeps
    /// analytic rows, a deletion from either tier takes them.
    #[tokio::test]
    async fn both_tiers_answer_as_one_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::SqliteDatabase::open(dir.path().join("db"))
            .await
            .unwrap();
        let people: Vec<Pseudonym> = (0..5u8).map(|i| Pseudonym::new(1, [i * 50; 32])).collect();
        let round = |at: i64| {
            let db = db.clone();
            let people = people.clone();
            async move {
                let batch = people
                    .iter()
                    .flat_map(|&p| {
                        [
                            event(p, Purpose::Location, at),
                            event(p, Purpose::Analytics, at),
                        ]
                    })
                    .collect();
                db.put_events(batch).await.unwrap()
            }
        };
        let settled = round(10).await;
        let raw = |sql: &str| -> i64 {
            rusqlite::Connection::open(db.path())
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap()
        };
        rusqlite::Connection::open(db.path())
            .unwrap()
            .execute(
                "INSERT INTO insight_rows (kind, at, event_id, person) VALUES (1, 10, ?1, 1), (1, 10, ?2, 1)",
                [settled[0], settled[2]],
            )
            .unwrap();
        db.write(|c| {
            for part in 0..super::PARTS {
                super::settle(c, part)?;
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(raw("SELECT COUNT(*) FROM events"), 10);
        assert_eq!(
            raw("SELECT COUNT(*) FROM insight_rows"),
            2,
            "a move keeps analytic rows"
        );
        let recent = round(500).await;
        assert_eq!(recent_rows(&db), 10);
        assert_eq!(db.count_events().await.unwrap(), 20);

        let ids: Vec<i64> = db
            .events_for(&people[1])
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, [settled[2], settled[3], recent[2], recent[3]]);

        // Pages of 3 over 20 rows in two tiers: each row once.
        let (mut seen, mut after) = (Vec::new(), None);
        loop {
            let page = db.scan_events(EventScan::all(), after, 3).await.unwrap();
            assert!(page.rows.len() <= 3);
            seen.extend(page.rows.iter().map(|e| e.id));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        seen.sort();
        let mut all: Vec<i64> = settled.iter().chain(&recent).copied().collect();
        all.sort();
        assert_eq!(seen, all);

        // One deletion in each tier; the settled one's analytic row goes.
        assert!(db.delete_event(&people[0], settled[0]).await.unwrap());
        assert!(db.delete_event(&people[0], recent[0]).await.unwrap());
        assert_eq!(raw("SELECT COUNT(*) FROM insight_rows"), 1);

        // The sweep in windows of 2 reaches both tiers.
        let swept = db
            .sweep_events_before(Purpose::Location, Timestamp(1_000), 2)
            .await
            .unwrap();
        assert_eq!(swept, 8, "4 settled + 4 recent location events left");
        let left: Vec<Purpose> = db
            .events_for(&people[1])
            .await
            .unwrap()
            .iter()
            .map(|e| e.purpose)
            .collect();
        assert_eq!(left, [Purpose::Analytics, Purpose::Analytics]);

        let out = db
            .apply(WriteSet::from(WriteOp::EraseSubject(people[1])))
            .await
            .unwrap();
        assert_eq!(out.rows_deleted, 2, "one settled and one recent event");
        assert_eq!(raw("SELECT COUNT(*) FROM insight_rows"), 0);
        assert_eq!(db.count_events().await.unwrap(), 20 - 2 - 8 - 2);
    }

    fn recent_rows(db: &super::super::SqliteDatabase) -> i64 {
        let c = rusqlite::Connection::open(db.path()).unwrap();
        (0..super::PARTS)
            .map(|part| {
                let sql = format!("SELECT COUNT(*) FROM {}", super::recent_table(part));
                c.query_row(&sql, [], |r| r.get::<_, i64>(0)).unwrap()
            })
            .sum()
    }

    /// A full recent table moves after the write that fills it, unless a
    /// scan is under way.
    #[tokio::test]
    async fn a_full_table_moves_unless_a_scan_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::SqliteDatabase::open(dir.path().join("db"))
            .await
            .unwrap();
        let p = Pseudonym::new(1, [9; 32]);
        let put = |n: u64| {
            let db = db.clone();
            async move {
                let batch = (0..n).map(|i| event(p, Purpose::Analytics, i as i64));
                db.put_events(batch.collect()).await.unwrap();
            }
        };
        put(super::RECENT_PER_PART - 1).await;
        assert_eq!(recent_rows(&db) as u64, super::RECENT_PER_PART - 1);
        let first = db.scan_events(EventScan::all(), None, 1).await.unwrap();
        assert!(first.next.is_some());
        put(1).await;
        assert_eq!(
            recent_rows(&db) as u64,
            super::RECENT_PER_PART,
            "full, held by the scan"
        );
        // Its caller dropped it halfway: the lease runs out.
        db.inner
            .recent
            .last_scan_page
            .store(0, std::sync::atomic::Ordering::Relaxed);
        put(1).await;
        assert_eq!(recent_rows(&db), 0);
        assert_eq!(db.count_events().await.unwrap(), super::RECENT_PER_PART + 1);
    }
}
