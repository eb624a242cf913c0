//! `cargo run --release --example ingest -- ARCHIVE…`: the message layer
//! alone (read, parse, normalise, hash), single-threaded, over archives.
//! Prints a table: the operation, the size, the time, the rate.

use std::time::Instant;

use archiveopteryx::{archive, mime};

fn main() -> anyhow::Result<()> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(!paths.is_empty(), "usage: ingest ARCHIVE…");
    println!(
        "{:<28} {:>9} {:>9} {:>8} {:>10} {:>8}",
        "operation", "messages", "MB", "seconds", "msg/s", "MB/s"
    );
    for path in paths {
        let (mut n, mut bytes, mut read_secs, mut ingest_secs, mut delta_secs) =
            (0u64, 0u64, 0f64, 0f64, 0f64);
        let mut t = Instant::now();
        for message in archive::open(std::path::Path::new(&path))? {
            let message = message?;
            read_secs += t.elapsed().as_secs_f64();
            let start = Instant::now();
            let ingested = mime::ingest(&message.raw);
            ingest_secs += start.elapsed().as_secs_f64();
            let start = Instant::now();
            if ingested.original_kept {
                std::hint::black_box(mime::delta::delta(
                    &message.raw,
                    &ingested.wire,
                    message.raw.len() / 4,
                ));
            }
            delta_secs += start.elapsed().as_secs_f64();
            std::hint::black_box(&ingested);
            n += 1;
            bytes += message.raw.len() as u64;
            t = Instant::now();
        }
        let mb = bytes as f64 / 1e6;
        for (op, secs) in [
            ("read archive", read_secs),
            ("ingest (parse+normalise)", ingest_secs),
            ("original as delta", delta_secs),
        ] {
            println!(
                "{:<28} {:>9} {:>9.1} {:>8.2} {:>10.0} {:>8.1}",
                op,
                n,
                mb,
                secs,
                n as f64 / secs,
                mb / secs
            );
        }
    }
    Ok(())
}
