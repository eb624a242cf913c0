//! The store operations behind SELECT, STORE, EXPUNGE, COPY, MOVE and
//! IDLE/NOOP, against a real PostgreSQL as the runtime role: counters stay
//! exact, every change takes one modseq and logs UID ranges, and every
//! committed change reaches the LISTEN bus.

use std::time::{Duration, Instant};

use archiveopteryx::mime;
use archiveopteryx::search::Flag;
use archiveopteryx::store::changes::changes_since;
use archiveopteryx::store::copy::{copy, move_messages};
use archiveopteryx::store::expunge::expunge;
use archiveopteryx::store::flags::{FlagOp, store_flags, store_flags_silent};
use archiveopteryx::store::inject::{self, NewMessage, SystemFlags};
use archiveopteryx::store::notify::{MailboxEvent, spawn_listener};
use archiveopteryx::store::select::{keyword_names, mailbox_state, select};
use archiveopteryx::store::{self, Db, DbRole, StoreError};
use archiveopteryx::uidset::UidSet;
use tokio_postgres::Client;

use crate::harness::TestDb;

const SEEN: SystemFlags = SystemFlags {
    seen: true,
    answered: false,
    flagged: false,
    deleted: false,
    draft: false,
};
const DELETED: SystemFlags = SystemFlags {
    seen: false,
    answered: false,
    flagged: false,
    deleted: true,
    draft: false,
};
const NONE: SystemFlags = SystemFlags {
    seen: false,
    answered: false,
    flagged: false,
    deleted: false,
    draft: false,
};

fn message(subject: &str, flags: SystemFlags, keywords: &[&str]) -> NewMessage {
    let raw = format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <{subject}@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello, {subject}.\r\n"
    )
    .into_bytes();
    NewMessage::new(
        mime::ingest(&raw),
        raw,
        1_136_214_245,
        flags,
        keywords.iter().map(|k| k.to_string()).collect(),
    )
}

/// alice, her INBOX and an Archive mailbox.
async fn alice(db: &TestDb) -> (i64, i64, i64) {
    assert!(
        db.aox(&["add", "user", "alice", "secret", "alice@example.org"])
            .status
            .success()
    );
    assert!(
        db.aox(&["add", "mailbox", "alice", "Archive"])
            .status
            .success()
    );
    let owner = db.owner().await;
    let (user, inbox) = store::mailboxes::mailbox_id(&owner, "alice", "INBOX")
        .await
        .unwrap();
    let (_, archive) = store::mailboxes::mailbox_id(&owner, "alice", "Archive")
        .await
        .unwrap();
    (user, inbox, archive)
}

async fn put(client: &mut Client, user: i64, mailbox: i64, batch: Vec<NewMessage>) -> Vec<i64> {
    inject::inject(client, user, mailbox, &batch)
        .await
        .unwrap()
        .uids
}

/// `n` entries in `mailbox`, UIDs 1..=n, all sharing one stored message:
/// one injected, the rest by one INSERT … SELECT generate_series as the
/// owner, with the counters set from what is there.
async fn fill(db: &TestDb, runtime: &mut Client, user: i64, mailbox: i64, n: i64) {
    put(runtime, user, mailbox, vec![message("bulk", NONE, &[])]).await;
    let owner = db.owner().await;
    owner
        .execute(
            "INSERT INTO mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, internaldate, rfc822_size) \
             SELECT user_id, mailbox_id, g, message_id, modseq, internaldate, rfc822_size \
             FROM mailbox_entries, generate_series(2, $2::bigint) AS g WHERE mailbox_id = $1 AND uid = 1",
            &[&mailbox, &n],
        )
        .await
        .unwrap();
    owner
        .execute(
            "UPDATE mailboxes m SET (message_count, unseen_count, deleted_count, total_size, uidnext) = \
             (SELECT count(*), count(*) FILTER (WHERE NOT seen), count(*) FILTER (WHERE deleted), \
                     sum(rfc822_size), max(uid) + 1 FROM mailbox_entries e WHERE e.mailbox_id = m.id) \
             WHERE id = $1",
            &[&mailbox],
        )
        .await
        .unwrap();
    owner
        .batch_execute("VACUUM ANALYZE mailbox_entries")
        .await
        .unwrap();
}

/// The maintained counters equal a count over the entries.
async fn assert_counters_exact(client: &Client, mailbox: i64) {
    let row = client
        .query_one(
            "SELECT m.message_count, m.unseen_count, m.deleted_count, m.total_size, \
                    e.n, e.unseen, e.deleted, e.size, m.uidnext > e.top \
             FROM mailboxes m, LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE NOT seen) AS unseen, \
                    count(*) FILTER (WHERE deleted) AS deleted, coalesce(sum(rfc822_size), 0)::bigint AS size, \
                    coalesce(max(uid), 0) AS top FROM mailbox_entries WHERE mailbox_id = m.id) e \
             WHERE m.id = $1",
            &[&mailbox],
        )
        .await
        .unwrap();
    let kept: [i64; 4] = std::array::from_fn(|i| row.get(i));
    let counted: [i64; 4] = std::array::from_fn(|i| row.get(i + 4));
    assert_eq!(kept, counted, "counters (messages, unseen, deleted, size)");
    assert!(row.get::<_, bool>(8), "uidnext is above every UID");
}

async fn changes_log(client: &Client, mailbox: i64) -> Vec<(i64, String, i64, i64)> {
    client
        .query(
            "SELECT modseq, kind, uid_low, uid_high FROM mailbox_changes WHERE mailbox_id = $1 \
             ORDER BY modseq, kind, uid_low",
            &[&mailbox],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn set(ranges: &[(u32, u32)]) -> UidSet {
    UidSet::from_ranges(ranges.iter().copied())
}

fn keyword(k: &str) -> Flag {
    Flag::Keyword(k.to_string())
}

#[tokio::test]
async fn rfc9051_6_3_2_select_gives_uid_ranges_with_gaps_and_claims_recent_once() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    let batch = vec![
        message("1", SEEN, &["Work"]),
        message("2", NONE, &[]),
        message("3", DELETED, &[]),
        message("4", DELETED, &[]),
        message("5", NONE, &[]),
        message("6", SEEN, &[]),
    ];
    put(&mut rt, user, inbox, batch).await;
    expunge(&mut rt, user, inbox, None, user, "expunge")
        .await
        .unwrap();

    let s = select(&mut rt, user, "inbox", true).await.unwrap();
    assert_eq!(s.uids, set(&[(1, 2), (5, 6)]));
    assert_eq!(
        s.recent, s.uids,
        "the first SELECT takes every message as recent"
    );
    assert_eq!(s.first_unseen, Some(2));
    assert_eq!(s.keywords, vec!["Work".to_string()]);
    assert_eq!(s.state.name, "INBOX");
    assert_eq!(
        (
            s.state.message_count,
            s.state.unseen_count,
            s.state.deleted_count
        ),
        (4, 2, 0)
    );
    assert_eq!(s.state.uidnext, 7);

    put(&mut rt, user, inbox, vec![message("7", NONE, &[])]).await;
    // EXAMINE shows the recent message without taking it (RFC 3501 §6.3.2).
    let examined = select(&mut rt, user, "INBOX", false).await.unwrap();
    assert_eq!(examined.recent, set(&[(7, 7)]));
    let s = select(&mut rt, user, "INBOX", true).await.unwrap();
    assert_eq!(s.uids, set(&[(1, 2), (5, 7)]));
    assert_eq!(s.recent, set(&[(7, 7)]));
    let again = select(&mut rt, user, "INBOX", true).await.unwrap();
    assert!(
        again.recent.is_empty(),
        "recent is claimed by one session only"
    );

    let status = mailbox_state(&rt, user, "INBOX").await.unwrap();
    assert_eq!((status.message_count, status.uidnext), (5, 8));
    assert!(matches!(
        mailbox_state(&rt, user, "Nonesuch").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        select(&mut rt, user, "Nonesuch", true).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn rfc9051_6_4_6_store_on_everything_is_one_change_row_and_a_repeat_changes_nothing() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    fill(&db, &mut rt, user, inbox, 1000).await;
    let before = mailbox_state(&rt, user, "INBOX").await.unwrap();
    let log_before = changes_log(&rt, inbox).await.len();

    let out = store_flags(
        &mut rt,
        user,
        inbox,
        &UidSet::everything(),
        FlagOp::Add,
        &[Flag::Seen],
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.modseq, before.highest_modseq + 1);
    assert_eq!(out.changed.len(), 1000);
    assert!(out.changed.windows(2).all(|w| w[0].uid < w[1].uid));
    assert!(
        out.changed
            .iter()
            .all(|e| e.flags.seen && e.modseq == out.modseq)
    );
    assert!(out.modified.is_empty());
    let log = changes_log(&rt, inbox).await;
    assert_eq!(log.len(), log_before + 1);
    assert_eq!(
        log.last().unwrap(),
        &(out.modseq as i64, "flags".into(), 1, 1000)
    );
    let at_new: i64 = rt
        .query_one(
            "SELECT count(*) FROM mailbox_entries WHERE mailbox_id = $1 AND modseq = $2 AND seen",
            &[&inbox, &(out.modseq as i64)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(at_new, 1000);
    assert_counters_exact(&rt, inbox).await;
    assert_eq!(
        mailbox_state(&rt, user, "INBOX")
            .await
            .unwrap()
            .unseen_count,
        0
    );

    let again = store_flags(
        &mut rt,
        user,
        inbox,
        &UidSet::everything(),
        FlagOp::Add,
        &[Flag::Seen],
        None,
    )
    .await
    .unwrap();
    assert!(again.changed.is_empty());
    assert_eq!(again.modseq, out.modseq, "nothing changed, no modseq used");
    assert_eq!(changes_log(&rt, inbox).await.len(), log_before + 1);
    assert_eq!(
        mailbox_state(&rt, user, "INBOX")
            .await
            .unwrap()
            .highest_modseq,
        out.modseq
    );
}

#[tokio::test]
async fn rfc9051_6_4_6_store_adds_removes_and_replaces_keywords_and_system_flags() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    let batch = (1..=4)
        .map(|i| message(&i.to_string(), NONE, &[]))
        .collect();
    put(&mut rt, user, inbox, batch).await;

    let added = store_flags(
        &mut rt,
        user,
        inbox,
        &set(&[(2, 3)]),
        FlagOp::Add,
        &[Flag::Deleted, keyword("$Junk"), keyword("Work")],
        None,
    )
    .await
    .unwrap();
    let names = keyword_names(&rt, user).await.unwrap();
    let id = |n: &str| *names.iter().find(|(_, v)| v.as_str() == n).unwrap().0;
    assert_eq!(
        added.changed.iter().map(|e| e.uid).collect::<Vec<_>>(),
        [2, 3]
    );
    let mut kws = added.changed[0].keywords.clone();
    kws.sort_unstable();
    let mut want = vec![id("$Junk"), id("Work")];
    want.sort_unstable();
    assert_eq!(kws, want);
    assert_counters_exact(&rt, inbox).await;
    assert_eq!(
        mailbox_state(&rt, user, "INBOX")
            .await
            .unwrap()
            .deleted_count,
        2
    );

    // Keywords compare case-insensitively: removing "work" removes "Work".
    let removed = store_flags(
        &mut rt,
        user,
        inbox,
        &UidSet::everything(),
        FlagOp::Remove,
        &[keyword("work"), Flag::Deleted],
        None,
    )
    .await
    .unwrap();
    assert_eq!(removed.changed.len(), 2);
    assert!(
        removed
            .changed
            .iter()
            .all(|e| e.keywords == vec![id("$Junk")] && !e.flags.deleted)
    );
    assert_counters_exact(&rt, inbox).await;

    let replaced = store_flags(
        &mut rt,
        user,
        inbox,
        &set(&[(1, 2)]),
        FlagOp::Replace,
        &[Flag::Flagged, Flag::Seen],
        None,
    )
    .await
    .unwrap();
    assert_eq!(replaced.changed.len(), 2);
    for e in &replaced.changed {
        assert_eq!(
            e.flags,
            SystemFlags {
                seen: true,
                flagged: true,
                ..NONE
            }
        );
        assert!(e.keywords.is_empty(), "FLAGS replaces keywords too");
    }
    assert_counters_exact(&rt, inbox).await;
    assert_eq!(
        mailbox_state(&rt, user, "INBOX")
            .await
            .unwrap()
            .unseen_count,
        2
    );
    // The same FLAGS again is no change.
    let same = store_flags(
        &mut rt,
        user,
        inbox,
        &set(&[(1, 2)]),
        FlagOp::Replace,
        &[Flag::Seen, Flag::Flagged],
        None,
    )
    .await
    .unwrap();
    assert!(same.changed.is_empty());
    assert_eq!(same.modseq, replaced.modseq);
}

#[tokio::test]
async fn rfc7162_3_1_3_unchangedsince_leaves_newer_entries_alone_and_reports_them_modified() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    let batch = (1..=3)
        .map(|i| message(&i.to_string(), NONE, &[]))
        .collect();
    put(&mut rt, user, inbox, batch).await;
    let flagged = store_flags(
        &mut rt,
        user,
        inbox,
        &set(&[(2, 2)]),
        FlagOp::Add,
        &[Flag::Flagged],
        None,
    )
    .await
    .unwrap();

    let out = store_flags(
        &mut rt,
        user,
        inbox,
        &set(&[(1, 3)]),
        FlagOp::Add,
        &[Flag::Seen],
        Some(flagged.modseq - 1),
    )
    .await
    .unwrap();
    assert_eq!(out.modified, set(&[(2, 2)]));
    assert_eq!(
        out.changed.iter().map(|e| e.uid).collect::<Vec<_>>(),
        [1, 3]
    );
    let seen2: bool = rt
        .query_one(
            "SELECT seen FROM mailbox_entries WHERE mailbox_id = $1 AND uid = 2",
            &[&inbox],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!seen2, "the modified entry was not stored to");
    assert_counters_exact(&rt, inbox).await;
    // Two ranges changed under one modseq: two rows.
    let log = changes_log(&rt, inbox).await;
    let last: Vec<_> = log.iter().filter(|c| c.0 == out.modseq as i64).collect();
    assert_eq!(
        last,
        vec![
            &(out.modseq as i64, "flags".to_string(), 1, 1),
            &(out.modseq as i64, "flags".to_string(), 3, 3)
        ]
    );
}

#[tokio::test]
async fn rfc9051_6_4_3_expunge_moves_only_deleted_entries_to_tombstones_with_their_flags() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    let batch = vec![
        message("1", SEEN, &[]),
        message(
            "2",
            SystemFlags {
                seen: true,
                ..DELETED
            },
            &["Work"],
        ),
        message("3", DELETED, &[]),
        message("4", NONE, &[]),
        message("5", DELETED, &[]),
    ];
    put(&mut rt, user, inbox, batch).await;
    let before = mailbox_state(&rt, user, "INBOX").await.unwrap();

    // UID EXPUNGE 1:3 leaves 5, though it is \Deleted too.
    let out = expunge(&mut rt, user, inbox, Some(&set(&[(1, 3)])), user, "expunge")
        .await
        .unwrap();
    assert_eq!(out.uids, set(&[(2, 3)]));
    assert_eq!(out.modseq, before.highest_modseq + 1);
    assert_counters_exact(&rt, inbox).await;
    let left: Vec<i64> = rt
        .query(
            "SELECT uid FROM mailbox_entries WHERE mailbox_id = $1 ORDER BY uid",
            &[&inbox],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, [1, 4, 5]);
    let tomb = rt
        .query_one(
            "SELECT seen, deleted, cardinality(keywords), reason, expunged_by, modseq \
             FROM expunged_entries WHERE mailbox_id = $1 AND uid = 2",
            &[&inbox],
        )
        .await
        .unwrap();
    assert!(tomb.get::<_, bool>(0) && tomb.get::<_, bool>(1));
    assert_eq!(tomb.get::<_, i32>(2), 1, "keywords kept for undelete");
    assert_eq!(tomb.get::<_, String>(3), "expunge");
    assert_eq!(tomb.get::<_, Option<i64>>(4), Some(user));
    assert_eq!(tomb.get::<_, i64>(5), out.modseq as i64);
    assert_eq!(
        changes_log(&rt, inbox).await.last().unwrap(),
        &(out.modseq as i64, "expunged".into(), 2, 3)
    );

    let rest = expunge(&mut rt, user, inbox, None, user, "expunge")
        .await
        .unwrap();
    assert_eq!(rest.uids, set(&[(5, 5)]));
    let none = expunge(&mut rt, user, inbox, None, user, "expunge")
        .await
        .unwrap();
    assert!(none.uids.is_empty());
    assert_eq!(none.modseq, rest.modseq, "an empty expunge uses no modseq");
    assert_counters_exact(&rt, inbox).await;
}

#[tokio::test]
async fn rfc4315_copy_keeps_flags_and_keywords_and_maps_source_to_dest_uids() {
    let db = TestDb::new().await;
    let (user, inbox, archive) = alice(&db).await;
    let mut rt = db.runtime().await;
    let batch = vec![
        message("1", NONE, &[]),
        message("2", SEEN, &["Work"]),
        message("3", NONE, &[]),
        message("4", DELETED, &[]),
        message(
            "5",
            SystemFlags {
                flagged: true,
                ..NONE
            },
            &["Work", "$Junk"],
        ),
    ];
    put(&mut rt, user, inbox, batch).await;
    put(
        &mut rt,
        user,
        archive,
        vec![message("a", NONE, &[]), message("b", NONE, &[])],
    )
    .await;
    let target_before = mailbox_state(&rt, user, "Archive").await.unwrap();

    let out = copy(
        &mut rt,
        user,
        inbox,
        &set(&[(2, 2), (4, 5), (9, 9)]),
        archive,
    )
    .await
    .unwrap();
    assert_eq!(out.source, set(&[(2, 2), (4, 5)]));
    assert_eq!(out.dest, set(&[(3, 5)]));
    assert_eq!(out.uidvalidity, target_before.uidvalidity);
    assert_eq!(out.modseq, target_before.highest_modseq + 1);

    let pairs = rt
        .query(
            "SELECT s.uid, d.uid FROM mailbox_entries s JOIN mailbox_entries d \
               ON d.message_id = s.message_id AND d.mailbox_id = $2 \
             WHERE s.mailbox_id = $1 AND (s.seen, s.answered, s.flagged, s.deleted, s.draft, s.keywords) \
                   = (d.seen, d.answered, d.flagged, d.deleted, d.draft, d.keywords) ORDER BY s.uid",
            &[&inbox, &archive],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
        .collect::<Vec<_>>();
    assert_eq!(
        pairs,
        [(2, 3), (4, 4), (5, 5)],
        "same message, flags and keywords"
    );
    assert_counters_exact(&rt, inbox).await;
    assert_counters_exact(&rt, archive).await;
    let target = mailbox_state(&rt, user, "Archive").await.unwrap();
    assert_eq!(
        (target.uidnext, target.message_count, target.deleted_count),
        (6, 5, 1)
    );
    assert_eq!(
        changes_log(&rt, archive).await.last().unwrap(),
        &(out.modseq as i64, "new".into(), 3, 5)
    );
    let messages: i64 = rt
        .query_one("SELECT count(*) FROM messages WHERE user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0);
    assert_eq!(messages, 7, "COPY adds entries, never content");

    // Nothing to copy is no change.
    let empty = copy(&mut rt, user, inbox, &set(&[(50, 60)]), archive)
        .await
        .unwrap();
    assert!(empty.source.is_empty() && empty.dest.is_empty());
    assert_eq!(empty.modseq, out.modseq);
}

#[tokio::test]
async fn rfc6851_move_takes_the_entries_with_their_flags_and_leaves_no_tombstones() {
    let db = TestDb::new().await;
    let (user, inbox, archive) = alice(&db).await;
    let mut rt = db.runtime().await;
    let batch = vec![
        message("1", SEEN, &[]),
        message("2", NONE, &["Work"]),
        message("3", NONE, &[]),
    ];
    put(&mut rt, user, inbox, batch).await;
    let source_before = mailbox_state(&rt, user, "INBOX").await.unwrap();

    // Not only \Deleted entries move.
    let out = move_messages(&mut rt, user, inbox, &set(&[(1, 2)]), archive)
        .await
        .unwrap();
    assert_eq!(out.copy.source, set(&[(1, 2)]));
    assert_eq!(out.copy.dest, set(&[(1, 2)]));
    assert_eq!(out.expunged_modseq, source_before.highest_modseq + 1);
    let left: Vec<i64> = rt
        .query(
            "SELECT uid FROM mailbox_entries WHERE mailbox_id = $1",
            &[&inbox],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, [3]);
    // The messages live on in Archive: nothing for undelete to restore.
    let tombstones: i64 = rt
        .query_one("SELECT count(*) FROM expunged_entries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tombstones, 0);
    let moved: Vec<(i64, bool, Vec<String>)> = rt
        .query(
            "SELECT e.uid, e.seen, ARRAY(SELECT k.name::text FROM keywords k \
                    WHERE k.user_id = e.user_id AND k.id = ANY(e.keywords)) \
             FROM mailbox_entries e WHERE mailbox_id = $1 ORDER BY uid",
            &[&archive],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        moved,
        [(1, true, vec![]), (2, false, vec!["Work".to_string()])]
    );
    assert_counters_exact(&rt, inbox).await;
    assert_counters_exact(&rt, archive).await;
    assert_eq!(
        changes_log(&rt, inbox).await.last().unwrap(),
        &(out.expunged_modseq as i64, "expunged".into(), 1, 2)
    );
    let s = mailbox_state(&rt, user, "Archive").await.unwrap();
    assert_eq!((s.message_count, s.unseen_count), (2, 1));

    // A MOVE within one mailbox: new UIDs, the old ones expunged.
    let same = move_messages(&mut rt, user, archive, &set(&[(1, 1)]), archive)
        .await
        .unwrap();
    assert_eq!(same.copy.dest, set(&[(3, 3)]));
    assert_eq!(same.expunged_modseq, same.copy.modseq + 1);
    assert_counters_exact(&rt, archive).await;
    let s = select(&mut rt, user, "Archive", false).await.unwrap();
    assert_eq!(s.uids, set(&[(2, 3)]));
    assert_eq!(s.state.highest_modseq, same.expunged_modseq);
}

#[tokio::test]
async fn rfc7162_changes_since_reports_new_expunged_and_flag_changes_even_past_the_pruned_horizon()
{
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    let batch = (1..=5)
        .map(|i| message(&i.to_string(), NONE, &[]))
        .collect();
    put(&mut rt, user, inbox, batch).await;
    let view = select(&mut rt, user, "INBOX", true).await.unwrap();
    let (since, known) = (view.state.highest_modseq, view.uids.clone());

    let quiet = changes_since(&rt, user, inbox, since, &known, view.state.uidnext)
        .await
        .unwrap();
    assert!(quiet.new_uids.is_empty() && quiet.expunged.is_empty() && quiet.flags.is_empty());

    put(
        &mut rt,
        user,
        inbox,
        vec![message("6", NONE, &[]), message("7", NONE, &[])],
    )
    .await;
    store_flags(
        &mut rt,
        user,
        inbox,
        &set(&[(2, 2)]),
        FlagOp::Add,
        &[Flag::Flagged],
        None,
    )
    .await
    .unwrap();
    store_flags(
        &mut rt,
        user,
        inbox,
        &set(&[(4, 4), (7, 7)]),
        FlagOp::Add,
        &[Flag::Deleted],
        None,
    )
    .await
    .unwrap();
    let gone = expunge(&mut rt, user, inbox, Some(&set(&[(4, 4)])), user, "expunge")
        .await
        .unwrap();

    let c = changes_since(&rt, user, inbox, since, &known, view.state.uidnext)
        .await
        .unwrap();
    assert_eq!(c.highest_modseq, gone.modseq);
    assert_eq!(c.uidnext, 8);
    assert_eq!(c.new_uids, set(&[(6, 7)]));
    assert_eq!(c.expunged, set(&[(4, 4)]));
    assert_eq!(
        c.flags.len(),
        1,
        "only known, present entries: {:?}",
        c.flags
    );
    assert_eq!(c.flags[0].uid, 2);
    assert!(c.flags[0].flags.flagged);

    // Prune the log past `since`: the answer must stay the same.
    let owner = db.owner().await;
    owner
        .execute(
            "DELETE FROM mailbox_changes WHERE mailbox_id = $1 AND modseq <= $2",
            &[&inbox, &(gone.modseq as i64)],
        )
        .await
        .unwrap();
    owner
        .execute(
            "UPDATE mailboxes SET changes_pruned_to = $2 WHERE id = $1",
            &[&inbox, &(gone.modseq as i64)],
        )
        .await
        .unwrap();
    let p = changes_since(&rt, user, inbox, since, &known, view.state.uidnext)
        .await
        .unwrap();
    assert_eq!(p.expunged, set(&[(4, 4)]));
    assert_eq!(p.new_uids, set(&[(6, 7)]));
    assert_eq!(p.flags.iter().map(|e| e.uid).collect::<Vec<_>>(), [2]);
}

fn runtime_db(db: &TestDb) -> Db {
    Db::from_config(&db.config(), DbRole::Runtime)
}

/// Waits (without sleeping) until the listener's LISTEN has completed: its
/// session's last statement is the LISTEN and it is idle.
async fn listener_ready(client: &Client) {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let n: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE query = 'LISTEN aox_mailbox' AND state = 'idle' AND datname = current_database()",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if n > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the listener never ran LISTEN");
}

#[tokio::test]
async fn listener_delivers_an_event_when_another_connection_changes_a_mailbox() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    let bus = spawn_listener(runtime_db(&db));
    let mut events = bus.subscribe();
    listener_ready(&rt).await;

    let injected = inject::inject(&mut rt, user, inbox, &[message("hello", NONE, &[])])
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("no event within the timeout")
        .unwrap();
    assert_eq!(
        event,
        MailboxEvent {
            user,
            mailbox: inbox,
            modseq: injected.modseq as u64,
            uidnext: 2
        }
    );

    let stored = store_flags(
        &mut rt,
        user,
        inbox,
        &set(&[(1, 1)]),
        FlagOp::Add,
        &[Flag::Seen],
        None,
    )
    .await
    .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("no event within the timeout")
        .unwrap();
    assert_eq!((event.modseq, event.uidnext), (stored.modseq, 2));
}

/// A rough speed check, run by hand:
/// `cargo test --test integration store_imap::speed -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn speed_select_and_store_on_100000_entries() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    fill(&db, &mut rt, user, inbox, 100_000).await;
    let t = Instant::now();
    let s = select(&mut rt, user, "INBOX", true).await.unwrap();
    println!(
        "select, 100000 entries: {:?} ({} ranges)",
        t.elapsed(),
        s.uids.ranges().len()
    );
    let t = Instant::now();
    let out = store_flags(
        &mut rt,
        user,
        inbox,
        &UidSet::everything(),
        FlagOp::Add,
        &[Flag::Seen],
        None,
    )
    .await
    .unwrap();
    println!(
        "STORE 1:* +FLAGS \\Seen: {:?} ({} changed)",
        t.elapsed(),
        out.changed.len()
    );
    let t = Instant::now();
    let out = store_flags(
        &mut rt,
        user,
        inbox,
        &UidSet::everything(),
        FlagOp::Add,
        &[Flag::Seen],
        None,
    )
    .await
    .unwrap();
    println!(
        "STORE 1:* +FLAGS \\Seen again: {:?} ({} changed)",
        t.elapsed(),
        out.changed.len()
    );
    let t = Instant::now();
    let out = store_flags(
        &mut rt,
        user,
        inbox,
        &set(&[(1, 50_000)]),
        FlagOp::Add,
        &[keyword("Work")],
        None,
    )
    .await
    .unwrap();
    println!(
        "STORE 1:50000 +FLAGS Work: {:?} ({} changed)",
        t.elapsed(),
        out.changed.len()
    );
    let t = Instant::now();
    let c = changes_since(
        &rt,
        user,
        inbox,
        s.state.highest_modseq,
        &s.uids,
        s.state.uidnext,
    )
    .await
    .unwrap();
    println!(
        "changes_since after those: {:?} ({} flag changes)",
        t.elapsed(),
        c.flags.len()
    );
    assert_eq!(c.flags.len(), 100_000);
    assert_counters_exact(&rt, inbox).await;
}

#[tokio::test]
async fn rfc9051_6_4_6_silent_store_changes_the_same_rows_and_counters_without_sending_them() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    fill(&db, &mut rt, user, inbox, 1000).await;
    let before = mailbox_state(&rt, user, "INBOX").await.unwrap();
    // Two runs of UIDs: 1:300 and 501:1000.
    let set = UidSet::from_ranges([(1, 300), (501, 1000)]);
    let out = archiveopteryx::store::flags::store_flags_silent(
        &mut rt,
        user,
        inbox,
        &set,
        FlagOp::Add,
        &[Flag::Seen, Flag::Deleted],
    )
    .await
    .unwrap();
    assert_eq!(out.modseq, before.highest_modseq + 1);
    assert!(out.changed.is_empty());
    assert_counters_exact(&rt, inbox).await;
    let after = mailbox_state(&rt, user, "INBOX").await.unwrap();
    assert_eq!(after.unseen_count, before.unseen_count - 800);
    assert_eq!(after.deleted_count, before.deleted_count + 800);
    let log = changes_log(&rt, inbox).await;
    let at_modseq: Vec<_> = log.iter().filter(|c| c.0 == out.modseq as i64).collect();
    assert_eq!(
        at_modseq,
        vec![
            &(out.modseq as i64, "flags".to_owned(), 1, 300),
            &(out.modseq as i64, "flags".to_owned(), 501, 1000)
        ]
    );
    // Nothing left to change: no modseq used.
    let again = archiveopteryx::store::flags::store_flags_silent(
        &mut rt,
        user,
        inbox,
        &set,
        FlagOp::Add,
        &[Flag::Seen],
    )
    .await
    .unwrap();
    assert_eq!(again.modseq, out.modseq);

    // Some entries of the set already flagged: the log names exactly the
    // runs that changed, not the whole set.
    let mut partial = None;
    for uids in [
        UidSet::from_ranges([(1, 10), (20, 30)]),
        UidSet::from_ranges([(1, 50)]),
    ] {
        let out = archiveopteryx::store::flags::store_flags_silent(
            &mut rt,
            user,
            inbox,
            &uids,
            FlagOp::Add,
            &[Flag::Flagged],
        )
        .await
        .unwrap();
        partial = Some(out);
    }
    let partial = partial.unwrap();
    let log = changes_log(&rt, inbox).await;
    let at_modseq: Vec<_> = log
        .iter()
        .filter(|c| c.0 == partial.modseq as i64)
        .map(|c| (c.2, c.3))
        .collect();
    assert_eq!(at_modseq, vec![(11, 19), (31, 50)]);
    assert_counters_exact(&rt, inbox).await;
}

async fn silent(
    rt: &mut Client,
    user: i64,
    inbox: i64,
    uids: UidSet,
    op: FlagOp,
    flag: Flag,
) -> archiveopteryx::store::flags::StoreOutcome {
    store_flags_silent(rt, user, inbox, &uids, op, &[flag])
        .await
        .unwrap()
}

#[tokio::test]
async fn rfc9051_6_4_6_silent_store_of_one_flag_on_everything_keeps_counters_and_log_exact() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    fill(&db, &mut rt, user, inbox, 1000).await;
    let everything = UidSet::everything();
    let logged = |log: &[(i64, String, i64, i64)], modseq: u64| -> Vec<(i64, i64)> {
        log.iter()
            .filter(|c| c.0 == modseq as i64)
            .map(|c| (c.2, c.3))
            .collect()
    };
    // Some already seen: only the others are written and logged.
    silent(
        &mut rt,
        user,
        inbox,
        set(&[(1, 300)]),
        FlagOp::Add,
        Flag::Seen,
    )
    .await;
    let all_seen = silent(
        &mut rt,
        user,
        inbox,
        everything.clone(),
        FlagOp::Add,
        Flag::Seen,
    )
    .await;
    let state = mailbox_state(&db.runtime().await, user, "INBOX")
        .await
        .unwrap();
    assert_eq!(state.unseen_count, 0);
    assert_counters_exact(&db.runtime().await, inbox).await;
    let log = changes_log(&db.runtime().await, inbox).await;
    assert_eq!(logged(&log, all_seen.modseq), vec![(301, 1000)]);
    // Every entry changes: one range.
    let none_seen = silent(
        &mut rt,
        user,
        inbox,
        everything.clone(),
        FlagOp::Remove,
        Flag::Seen,
    )
    .await;
    let deleted = silent(
        &mut rt,
        user,
        inbox,
        everything.clone(),
        FlagOp::Add,
        Flag::Deleted,
    )
    .await;
    let state = mailbox_state(&db.runtime().await, user, "INBOX")
        .await
        .unwrap();
    assert_eq!((state.unseen_count, state.deleted_count), (1000, 1000));
    assert_counters_exact(&db.runtime().await, inbox).await;
    let log = changes_log(&db.runtime().await, inbox).await;
    assert_eq!(logged(&log, none_seen.modseq), vec![(1, 1000)]);
    assert_eq!(logged(&log, deleted.modseq), vec![(1, 1000)]);
    // Nothing left to change: no modseq used.
    let again = silent(&mut rt, user, inbox, everything, FlagOp::Add, Flag::Deleted).await;
    assert_eq!(again.modseq, deleted.modseq);
}

/// Entries of `mailbox_entries` read so far, by every connection: the
/// statistics flush forced here happens before the reply, so what `client`
/// did before is counted.
async fn entries_read(client: &Client) -> i64 {
    client
        .execute("SELECT pg_stat_force_next_flush()", &[])
        .await
        .unwrap();
    client
        .query_one(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) \
             FROM pg_stat_user_tables WHERE relname = 'mailbox_entries'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// A mailbox just filled by COPY has no statistics of its own (ANALYZE last
/// ran while it was empty), so the planner believes it holds a row or two.
/// Every UID-set statement must still read each entry a bounded number of
/// times: a plan that rescans the entries once per entry made a STORE on
/// 100,000 just-copied messages run for minutes.
#[tokio::test]
async fn statements_on_a_just_copied_mailbox_read_each_entry_a_bounded_number_of_times() {
    const N: i64 = 4_000;
    let db = TestDb::new().await;
    let (user, inbox, archive) = alice(&db).await;
    let mut runtime = db.runtime().await;
    fill(&db, &mut runtime, user, inbox, N).await;
    db.owner()
        .await
        .batch_execute("ALTER TABLE mailbox_entries SET (autovacuum_enabled = false)")
        .await
        .unwrap();
    // The superuser may force statistics flushes; the store functions only
    // need a client, so the same connection runs them.
    let mut c = db.superuser().await;
    let all = UidSet::everything();
    copy(&mut c, user, inbox, &all, archive).await.unwrap();

    let bound = |op: &str, read: i64| {
        assert!(
            read <= 6 * N,
            "{op} on {N} just-copied entries read {read} entries"
        );
    };
    let mut before = entries_read(&c).await;
    let mut step = |op: &'static str, now: i64| {
        bound(op, now - before);
        before = now;
    };
    store_flags_silent(&mut c, user, archive, &all, FlagOp::Add, &[Flag::Seen])
        .await
        .unwrap();
    step("STORE 1:* +FLAGS.SILENT", entries_read(&c).await);
    let most = set(&[(2, N as u32 - 1)]);
    let out = store_flags(
        &mut c,
        user,
        archive,
        &most,
        FlagOp::Add,
        &[Flag::Flagged],
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.changed.len(), N as usize - 2);
    step("STORE 2:n-1 +FLAGS", entries_read(&c).await);
    store_flags(
        &mut c,
        user,
        archive,
        &most,
        FlagOp::Remove,
        &[Flag::Flagged],
        Some(1),
    )
    .await
    .unwrap();
    step("STORE (UNCHANGEDSINCE 1)", entries_read(&c).await);
    store_flags_silent(&mut c, user, archive, &most, FlagOp::Add, &[Flag::Deleted])
        .await
        .unwrap();
    step("STORE 2:n-1 +FLAGS.SILENT", entries_read(&c).await);
    let half = set(&[(1, N as u32 / 2)]);
    move_messages(&mut c, user, archive, &half, inbox)
        .await
        .unwrap();
    step("MOVE 1:n/2", entries_read(&c).await);
    let gone = expunge(&mut c, user, archive, None, user, "expunge")
        .await
        .unwrap();
    assert_eq!(gone.uids.len(), N as u64 / 2 - 1);
    step("EXPUNGE", entries_read(&c).await);
    assert_counters_exact(&c, archive).await;
    assert_counters_exact(&c, inbox).await;
}

/// A one-flag STORE over at least 100,000 UIDs takes its count from the
/// UPDATE's command tag: the counters stay exact, and the change log names
/// the whole set when most of it changed, exactly the changed runs when few
/// did.
#[tokio::test]
async fn one_flag_store_over_a_big_set_logs_the_set_when_dense_and_the_runs_when_sparse() {
    let db = TestDb::new().await;
    let (user, inbox, _) = alice(&db).await;
    let mut rt = db.runtime().await;
    fill(&db, &mut rt, user, inbox, 120_000).await;
    let unseen = async |rt: &Client| mailbox_state(rt, user, "INBOX").await.unwrap().unseen_count;
    // The change rows a STORE wrote: (kind, low, high).
    let logged = async |rt: &Client, modseq: u64| -> Vec<(String, i64, i64)> {
        changes_log(rt, inbox)
            .await
            .into_iter()
            .filter(|c| c.0 == modseq as i64)
            .map(|c| (c.1, c.2, c.3))
            .collect()
    };
    let flags = |runs: &[(i64, i64)]| -> Vec<(String, i64, i64)> {
        runs.iter()
            .map(|&(a, b)| ("flags".to_owned(), a, b))
            .collect()
    };

    let dense = silent(
        &mut rt,
        user,
        inbox,
        UidSet::everything(),
        FlagOp::Add,
        Flag::Seen,
    )
    .await;
    assert_counters_exact(&rt, inbox).await;
    assert_eq!(unseen(&rt).await, 0);
    assert_eq!(logged(&rt, dense.modseq).await, flags(&[(1, 120_000)]));

    // 700 entries in two runs become unseen, then a STORE over a bigger
    // set marks them read again: only they are written, and the log names
    // their runs.
    for run in [(200, 399), (5001, 5500)] {
        silent(
            &mut rt,
            user,
            inbox,
            set(&[run]),
            FlagOp::Remove,
            Flag::Seen,
        )
        .await;
    }
    assert_eq!(unseen(&rt).await, 700);
    let sparse = silent(
        &mut rt,
        user,
        inbox,
        set(&[(1, 200_000)]),
        FlagOp::Add,
        Flag::Seen,
    )
    .await;
    assert_counters_exact(&rt, inbox).await;
    assert_eq!(unseen(&rt).await, 0);
    assert_eq!(
        logged(&rt, sparse.modseq).await,
        flags(&[(200, 399), (5001, 5500)])
    );
}

/// The UIDs as they are, read the slow way.
async fn present_uids(client: &Client, mailbox: i64) -> UidSet {
    let rows = client
        .query(
            "SELECT uid FROM mailbox_entries WHERE mailbox_id = $1",
            &[&mailbox],
        )
        .await
        .unwrap();
    UidSet::from_values(rows.iter().map(|r| r.get::<_, i64>(0) as u32))
}

/// SELECT takes a mailbox's UIDs as its span minus the logged expunged
/// ranges, and only when that has exactly message_count UIDs: a UID never
/// handed out, or an entry removed without a log row, sends it back to
/// reading every UID, and the answer is exact either way.
#[tokio::test]
async fn select_with_holes_is_exact_from_the_log_and_when_the_log_cannot_be_trusted() {
    let db = TestDb::new().await;
    let (user, inbox, archive) = alice(&db).await;
    let mut rt = db.runtime().await;
    let batch: Vec<NewMessage> = (0..40)
        .map(|i| {
            let flags = if i % 7 == 3 { DELETED } else { NONE };
            message(&i.to_string(), flags, &[])
        })
        .collect();
    put(&mut rt, user, inbox, batch).await;
    expunge(&mut rt, user, inbox, None, user, "expunge")
        .await
        .unwrap();
    move_messages(&mut rt, user, inbox, &set(&[(20, 25), (38, 38)]), archive)
        .await
        .unwrap();
    let s = select(&mut rt, user, "INBOX", true).await.unwrap();
    assert_eq!(s.uids, present_uids(&rt, inbox).await);
    assert_eq!(s.uids.len(), s.state.message_count);
    assert!(s.uids.ranges().len() > 4, "{:?}", s.uids);

    // A UID never handed out: the span has one more than the mailbox.
    let owner = db.owner().await;
    owner
        .execute(
            "UPDATE mailboxes SET uidnext = uidnext + 3 WHERE id = $1",
            &[&inbox],
        )
        .await
        .unwrap();
    put(&mut rt, user, inbox, vec![message("late", NONE, &[])]).await;
    let s = select(&mut rt, user, "INBOX", true).await.unwrap();
    assert_eq!(s.uids, present_uids(&rt, inbox).await);

    // An entry removed behind the log's back.
    owner
        .batch_execute(&format!(
            "DELETE FROM mailbox_entries WHERE mailbox_id = {inbox} AND uid = 2; \
             UPDATE mailboxes SET message_count = message_count - 1 WHERE id = {inbox}"
        ))
        .await
        .unwrap();
    let s = select(&mut rt, user, "INBOX", true).await.unwrap();
    assert_eq!(s.uids, present_uids(&rt, inbox).await);
    assert!(!s.uids.contains(2));
}
