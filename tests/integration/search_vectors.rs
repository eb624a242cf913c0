//! Full-text vectors are filled after storing, by the server process: a
//! message appended over IMAP is found by SEARCH BODY before its vector
//! exists and after, and its parts get the vector their text gives.

use std::time::{Duration, Instant};

use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice, message, start_server};
use crate::import_tune::vectors;

#[tokio::test]
async fn the_server_fills_vectors_of_appended_parts_and_search_finds_them_throughout() {
    let db = TestDb::new().await;
    add_alice(&db);
    let owner = db.owner().await;
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    for n in 0..3 {
        let r = c.append("INBOX", "", &message(n, "vectors")).await;
        assert!(r.ok(), "{}", r.tagged);
    }
    assert!(c.cmd("SELECT INBOX").await.ok());
    // Whether or not the filler has been yet, the search is exact.
    let r = c.cmd("SEARCH BODY \"message 1\"").await;
    assert_eq!(r.lines("SEARCH"), ["* SEARCH 2"], "{r:?}");

    // The filler runs after news of the APPENDs; wait for what it does.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut now = vectors(&owner).await;
    while now.1 > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = vectors(&owner).await;
    }
    let (with_text, missing, wrong) = now;
    assert!(with_text >= 3, "{with_text} parts with text");
    assert_eq!((missing, wrong), (0, 0), "the server left vectors unfilled");

    let r = c.cmd("SEARCH BODY \"message 1\"").await;
    assert_eq!(r.lines("SEARCH"), ["* SEARCH 2"], "{r:?}");
    let r = c.cmd("SEARCH BODY message").await;
    assert_eq!(r.lines("SEARCH"), ["* SEARCH 1 2 3"], "{r:?}");
}
