//! imap-codec as an independent oracle (filled in below).
