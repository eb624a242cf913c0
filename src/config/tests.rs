#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::vars::TABLE;
use super::*;
use proptest::prelude::*;

const FILE: &str = "archiveopteryx.conf";

fn parse(text: &str) -> Config {
    Config::parse(text, FILE).unwrap()
}

fn error(text: &str) -> String {
    Config::parse(text, FILE).unwrap_err().to_string()
}

#[test]
fn defaults_are_aox_defaults() {
    let c = Config::defaults();
    assert_eq!(c.db_address(), "127.0.0.1");
    assert_eq!(c.db_port(), 5432);
    assert_eq!(c.db_name(), "archiveopteryx");
    assert_eq!(c.db_user(), "aox");
    assert_eq!(c.db_password(), "");
    assert_eq!(c.db_owner(), "aoxsuper");
    assert_eq!(c.db_owner_password(), "");
    assert_eq!(c.db_max_handles(), 8);
    assert_eq!(c.db_tls(), DbTls::Prefer);
    assert_eq!(c.hostname(), "");
    assert_eq!(c.tls_certificate(), "");
    assert!(c.use_imap());
    assert_eq!(c.imap_address(), "");
    assert_eq!(c.imap_port(), 143);
    assert!(!c.use_imaps());
    assert_eq!(c.imaps_address(), "");
    assert_eq!(c.imaps_port(), 993);
    assert!(!c.use_pop());
    assert_eq!(c.pop_address(), "");
    assert_eq!(c.pop_port(), 110);
    assert!(!c.use_pops());
    assert_eq!(c.pops_address(), "");
    assert_eq!(c.pops_port(), 995);
    assert!(c.use_lmtp());
    assert_eq!(c.lmtp_address(), "127.0.0.1");
    assert_eq!(c.lmtp_port(), 2026);
    assert_eq!(c.undelete_time(), 49);
    assert!(!c.use_imap_quota());
    assert!(!c.use_subaddressing());
    assert_eq!(c.allow_plaintext_passwords(), PlaintextPasswords::Never);
    assert_eq!(c.log_level(), LogLevel::Info);
    assert_eq!(c.logfile(), "");
    assert_eq!(c.message_copy_directory(), "");
    assert_eq!(c.max_line_length(), 65_536);
    assert_eq!(c.max_message_size(), 67_108_864);
    assert!(TABLE.iter().all(|v| !c.is_set(v.name)));
}

#[test]
fn an_empty_file_is_the_defaults() {
    assert_eq!(parse(""), Config::defaults());
    assert_eq!(parse("\n  \n# nothing\n"), Config::defaults());
}

#[test]
fn every_kind_parses() {
    let c = parse(
        "db-address = /var/run/postgresql\n\
         db-password = s3cret\n\
         db-port = 5433\n\
         db-max-handles = 1000\n\
         undelete-time = 0\n\
         max-message-size = 2147483647\n\
         use-pop = yes\n\
         db-tls = require\n\
         log-level = significant\n\
         allow-plaintext-passwords = always\n",
    );
    assert_eq!(c.db_address(), "/var/run/postgresql");
    assert_eq!(c.db_password(), "s3cret");
    assert_eq!(c.db_port(), 5433);
    assert_eq!(c.db_max_handles(), 1000);
    assert_eq!(c.undelete_time(), 0);
    assert_eq!(c.max_message_size(), 2_147_483_647);
    assert!(c.use_pop());
    assert_eq!(c.db_tls(), DbTls::Require);
    assert_eq!(c.log_level(), LogLevel::Warn);
    assert_eq!(c.allow_plaintext_passwords(), PlaintextPasswords::Always);
}

#[test]
fn toggles_accept_every_spelling_in_any_case() {
    for word in ["1", "on", "YES", "True", "enabled"] {
        assert!(parse(&format!("use-imaps = {word}")).use_imaps(), "{word}");
    }
    for word in ["0", "Off", "no", "FALSE", "disabled"] {
        assert!(!parse(&format!("use-imap = {word}")).use_imap(), "{word}");
    }
}

#[test]
fn enums_accept_aox_words_and_aliases() {
    let level = |word: &str| parse(&format!("log-level = {word}")).log_level();
    assert_eq!(level("debug"), LogLevel::Debug);
    assert_eq!(level("INFO"), LogLevel::Info);
    assert_eq!(level("warn"), LogLevel::Warn);
    assert_eq!(level("significant"), LogLevel::Warn);
    assert_eq!(level("error"), LogLevel::Error);
    assert_eq!(level("Disaster"), LogLevel::Error);
    let tls = |word: &str| parse(&format!("db-tls = {word}")).db_tls();
    assert_eq!(tls("disable"), DbTls::Disable);
    assert_eq!(tls("Prefer"), DbTls::Prefer);
    assert_eq!(tls("REQUIRE"), DbTls::Require);
}

#[test]
fn log_levels_map_onto_tracing_levels() {
    use tracing::Level;
    assert_eq!(Level::from(LogLevel::Debug), Level::DEBUG);
    assert_eq!(Level::from(LogLevel::Info), Level::INFO);
    assert_eq!(Level::from(LogLevel::Warn), Level::WARN);
    assert_eq!(Level::from(LogLevel::Error), Level::ERROR);
    assert_eq!(
        tracing::level_filters::LevelFilter::from(LogLevel::Warn),
        tracing::level_filters::LevelFilter::WARN
    );
}

#[test]
fn names_are_case_insensitive_and_stored_lowercase() {
    let c = parse("DB-Port = 6543");
    assert_eq!(c.db_port(), 6543);
    assert!(c.is_set("db-port"));
    assert!(c.is_set("DB-PORT"));
    assert!(!c.is_set("db-name"));
    assert!(!c.is_set("no-such-thing"));
}

#[test]
fn comments_blank_lines_and_spacing_are_ignored() {
    let c = parse(
        "# a comment\n\
         \n\
         \t  # an indented comment\n\
         db-name=mail\n\
         \x20\x20db-user   =   archiver   # trailing comment\n\
         hostname = mx.example.com#tight comment\n",
    );
    assert_eq!(c.db_name(), "mail");
    assert_eq!(c.db_user(), "archiver");
    assert_eq!(c.hostname(), "mx.example.com");
}

#[test]
fn bare_values_keep_inner_spaces() {
    assert_eq!(parse("logfile = a b  c  ").logfile(), "a b  c");
}

#[test]
fn quoted_values_keep_spaces_hashes_and_the_other_quote() {
    let c = parse(
        "db-password = \" pass # word \"  # comment\n\
         db-owner-password = 'say \"hi\"'\n\
         logfile = \"it's here\"\n\
         hostname = \"\"\n",
    );
    assert_eq!(c.db_password(), " pass # word ");
    assert_eq!(c.db_owner_password(), "say \"hi\"");
    assert_eq!(c.logfile(), "it's here");
    assert_eq!(c.hostname(), "");
    assert!(c.is_set("hostname"));
}

#[test]
fn a_bare_empty_value_is_empty_text() {
    let c = parse("tls-certificate =\n");
    assert_eq!(c.tls_certificate(), "");
    assert!(c.is_set("tls-certificate"));
}

#[test]
fn crlf_line_endings_and_a_byte_order_mark_are_accepted() {
    let c = parse("\u{feff}db-name = a\r\ndb-port = 1\r\n");
    assert_eq!(c.db_name(), "a");
    assert_eq!(c.db_port(), 1);
}

#[test]
fn unknown_name_is_an_error_suggesting_the_nearest_name() {
    assert_eq!(
        error("db-name = x\n\ndb-adress = y\n"),
        "archiveopteryx.conf:3: unknown variable \"db-adress\" (did you mean \"db-address\"?)"
    );
}

#[test]
fn unknown_name_far_from_any_is_an_error_without_suggestion() {
    assert_eq!(
        error("frobnication-level = 3"),
        "archiveopteryx.conf:1: unknown variable \"frobnication-level\""
    );
}

#[test]
fn unknown_name_is_reported_before_its_bad_value() {
    assert_eq!(
        error("db-adress = 'x"),
        "archiveopteryx.conf:1: unknown variable \"db-adress\" (did you mean \"db-address\"?)"
    );
}

#[test]
fn bad_port_is_an_error() {
    let text = "# one\n#two\n\n\n\n\ndb-port = http\n";
    assert_eq!(
        error(text),
        "archiveopteryx.conf:7: db-port: expected a port number 1-65535, got \"http\""
    );
    assert_eq!(
        error("imap-port = 0"),
        "archiveopteryx.conf:1: imap-port: expected a port number 1-65535, got \"0\""
    );
    assert_eq!(
        error("imap-port = 65536"),
        "archiveopteryx.conf:1: imap-port: expected a port number 1-65535, got \"65536\""
    );
    assert_eq!(
        error("imap-port = +143"),
        "archiveopteryx.conf:1: imap-port: expected a port number 1-65535, got \"+143\""
    );
}

#[test]
fn bad_toggle_is_an_error() {
    assert_eq!(
        error("use-imap = maybe"),
        "archiveopteryx.conf:1: use-imap: expected on or off \
         (or yes/no, true/false, 1/0, enabled/disabled), got \"maybe\""
    );
}

#[test]
fn integers_out_of_range_are_errors() {
    assert_eq!(
        error("db-max-handles = 0"),
        "archiveopteryx.conf:1: db-max-handles: expected an integer 1-1000, got \"0\""
    );
    assert_eq!(
        error("db-max-handles = 1001"),
        "archiveopteryx.conf:1: db-max-handles: expected an integer 1-1000, got \"1001\""
    );
    assert_eq!(
        error("undelete-time = 36501"),
        "archiveopteryx.conf:1: undelete-time: expected a number of days 0-36500, got \"36501\""
    );
    assert_eq!(
        error("max-line-length = 1023"),
        "archiveopteryx.conf:1: max-line-length: expected a size in bytes 1024-1048576, got \"1023\""
    );
    assert_eq!(
        error("max-message-size = 99999999999999999999999"),
        "archiveopteryx.conf:1: max-message-size: expected a size in bytes 1024-2147483647, \
         got \"99999999999999999999999\""
    );
}

#[test]
fn bad_enum_word_is_an_error_listing_the_words() {
    assert_eq!(
        error("log-level = loud"),
        "archiveopteryx.conf:1: log-level: expected one of debug, info, warn, significant, \
         error, disaster, got \"loud\""
    );
    assert_eq!(
        error("db-tls = on"),
        "archiveopteryx.conf:1: db-tls: expected one of disable, prefer, require, got \"on\""
    );
}

#[test]
fn duplicate_name_is_an_error_naming_both_lines() {
    assert_eq!(
        error("db-port = 1\n# x\nDB-PORT = 1\n"),
        "archiveopteryx.conf:3: duplicate variable \"db-port\", already set on line 1"
    );
}

#[test]
fn junk_after_a_closing_quote_is_an_error() {
    assert_eq!(
        error("db-name = x\nlogfile = \"/var/log/aox\" extra # note\n"),
        "archiveopteryx.conf:2: logfile: expected only a comment after the closing quote, \
         got \"extra\""
    );
}

#[test]
fn unterminated_quote_is_an_error() {
    assert_eq!(
        error("\nlogfile = '/var/log/aox\n"),
        "archiveopteryx.conf:2: logfile: expected a closing ' quote, got end of line"
    );
    assert_eq!(
        error("logfile = \"x' # y"),
        "archiveopteryx.conf:1: logfile: expected a closing \" quote, got end of line"
    );
}

#[test]
fn errors_about_secrets_do_not_echo_them() {
    assert_eq!(
        error("db-password = 'hunter2'hunter3"),
        "archiveopteryx.conf:1: db-password: expected only a comment after the closing quote, \
         got <redacted>"
    );
}

#[test]
fn a_line_without_equals_is_an_error() {
    assert_eq!(
        error("db-password hunter2"),
        "archiveopteryx.conf:1: expected \"=\" after db-password, got \"h\""
    );
    assert_eq!(
        error("db-name"),
        "archiveopteryx.conf:1: expected \"=\" after db-name, got end of line"
    );
}

#[test]
fn a_bad_name_is_an_error() {
    assert_eq!(
        error("db_port = 5"),
        "archiveopteryx.conf:1: expected a variable name (letters, digits and '-'), \
         got \"db_port\""
    );
    assert_eq!(
        error("= 5"),
        "archiveopteryx.conf:1: expected a variable name, got \"=\""
    );
    assert_eq!(
        error("été = 5"),
        "archiveopteryx.conf:1: expected a variable name, got \"été\""
    );
}

#[test]
fn set_validates_like_a_file_line_and_overrides() {
    let mut c = parse("db-port = 5433");
    c.set("DB-Port", "6000").unwrap();
    assert_eq!(c.db_port(), 6000);
    c.set("logfile", "a # b").unwrap();
    assert_eq!(c.logfile(), "a # b", "set takes the value literally");
    assert_eq!(
        c.set("db-port", "http").unwrap_err().to_string(),
        "<override>: db-port: expected a port number 1-65535, got \"http\""
    );
    assert_eq!(
        c.set("db-adress", "x").unwrap_err().to_string(),
        "<override>: unknown variable \"db-adress\" (did you mean \"db-address\"?)"
    );
    assert_eq!(c.db_port(), 6000, "a rejected value leaves the old one");
}

#[test]
fn entries_list_every_variable_in_table_order() {
    let c = parse("use-pop = yes\nlog-level = disaster\ndb-port = 6000");
    let entries = c.entries();
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    let table: Vec<&str> = TABLE.iter().map(|v| v.name).collect();
    assert_eq!(names, table);
    let value = |name: &str| {
        entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert_eq!(value("db-address"), "127.0.0.1");
    assert_eq!(value("db-port"), "6000");
    assert_eq!(value("use-pop"), "on");
    assert_eq!(value("use-imaps"), "off");
    assert_eq!(value("log-level"), "error");
    assert_eq!(value("db-tls"), "prefer");
    assert_eq!(value("max-message-size"), "67108864");
    assert_eq!(value("db-password"), "");
}

#[test]
fn default_entries_parse_back_to_the_defaults() {
    let text: String = Config::defaults()
        .entries()
        .iter()
        .map(|(name, value)| render_line(name, value))
        .collect();
    let c = parse(&text);
    assert!(TABLE.iter().all(|v| c.is_set(v.name)));
    assert_eq!(c.entries(), Config::defaults().entries());
}

#[test]
fn secrets_are_redacted_in_entries() {
    let c = parse("db-password = hunter2\ndb-owner-password = 'correct horse'");
    let entries = c.entries();
    assert!(entries.contains(&("db-password".to_string(), "<redacted>".to_string())));
    assert!(entries.contains(&("db-owner-password".to_string(), "<redacted>".to_string())));
    assert!(!format!("{entries:?}").contains("hunter2"));
    assert_eq!(
        c.db_password(),
        "hunter2",
        "the getter still gives the secret"
    );
}

#[test]
fn secrets_are_redacted_in_debug() {
    let c = parse("db-password = hunter2\ndb-owner-password = 'correct horse'\ndb-port = 6000");
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("correct horse"), "{debug}");
    assert!(debug.contains("db-password: <redacted>"), "{debug}");
    assert!(debug.contains("db-port: \"6000\""), "{debug}");
    assert!(
        !debug.contains("db-name"),
        "only set values are listed: {debug}"
    );
}

#[test]
fn the_table_names_match_their_getters_and_are_unique() {
    let mut seen = std::collections::HashSet::new();
    for v in TABLE {
        assert!(seen.insert(v.name), "{} twice", v.name);
        assert_eq!(v.getter, v.name.replace('-', "_"));
        assert!(
            v.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}",
            v.name
        );
    }
    let secrets: Vec<&str> = TABLE.iter().filter(|v| v.secret).map(|v| v.name).collect();
    assert_eq!(
        secrets,
        ["db-password", "db-owner-password", "ldap-bind-password"]
    );
}

#[test]
fn render_line_quotes_only_when_needed() {
    assert_eq!(render_line("db-name", "mail"), "db-name = mail\n");
    assert_eq!(render_line("logfile", ""), "logfile = \"\"\n");
    assert_eq!(render_line("logfile", "a b"), "logfile = \"a b\"\n");
    assert_eq!(render_line("logfile", "a#b"), "logfile = \"a#b\"\n");
    assert_eq!(
        render_line("logfile", "say \"hi\""),
        "logfile = 'say \"hi\"'\n"
    );
    assert_eq!(render_line("logfile", "it's"), "logfile = \"it's\"\n");
    assert_eq!(render_line("logfile", "a'b\"c"), "logfile = a'b\"c\n");
}

#[test]
fn values_that_cannot_be_rendered_are_reported() {
    assert!(is_renderable("plain"));
    assert!(!is_renderable(" both ' and \" with a leading space"));
    assert!(!is_renderable("line\nbreak"));
    assert!(is_renderable("a'b\"c"));
    assert!(!is_renderable("'a\"b"));
}

#[test]
fn from_file_reads_and_names_the_file_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archiveopteryx.conf");
    std::fs::write(&path, "db-port = 6000\nuse-imap = perhaps\n").unwrap();
    let message = Config::from_file(&path).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}:2: use-imap: expected on or off (or yes/no, true/false, 1/0, \
             enabled/disabled), got \"perhaps\"",
            path.display()
        )
    );
    std::fs::write(&path, "db-port = 6000\n").unwrap();
    assert_eq!(Config::from_file(&path).unwrap().db_port(), 6000);
}

#[test]
fn from_file_names_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.conf");
    let message = Config::from_file(&path).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read: ", path.display())),
        "{message}"
    );
}

proptest! {
    #[test]
    fn render_line_round_trips_exactly_the_renderable_values(value in "\\PC*") {
        let parsed = Config::parse(&render_line("logfile", &value), FILE)
            .ok()
            .map(|c| c.logfile().to_string());
        prop_assert_eq!(parsed.as_deref() == Some(value.as_str()), is_renderable(&value));
    }

    #[test]
    fn render_line_round_trips_values_with_quotes_and_hashes(value in "[ a#'\"\t\\PC]{0,12}") {
        prop_assume!(is_renderable(&value));
        let c = Config::parse(&render_line("db-password", &value), FILE).unwrap();
        prop_assert_eq!(c.db_password(), value.as_str());
    }

    #[test]
    fn parsing_any_text_returns_rather_than_panics(text in "(\\PC|[\n\r])*") {
        let _ = Config::parse(&text, FILE);
    }

    #[test]
    fn ports_parse_exactly_in_range(port in 0u32..70_000) {
        let result = Config::parse(&format!("pop-port = {port}"), FILE);
        prop_assert_eq!(result.is_ok(), (1..=65_535).contains(&port));
        if let Ok(c) = result {
            prop_assert_eq!(u32::from(c.pop_port()), port);
        }
    }
}
