//! SEARCH: the IMAP search tree ([`SearchKey`]) compiled into one SQL
//! statement (DESIGN.md §4.8), with every piece of client text bound as a
//! parameter and never written into the SQL.
//!
//! The statement is always
//! `SELECT e.uid FROM mailbox_entries e WHERE e.user_id = $1 AND e.mailbox_id = $2 AND (…) ORDER BY e.uid`,
//! so it stays sargable on the primary key (user_id, mailbox_id, uid); keys on
//! other tables are correlated `EXISTS` sub-selects on the message.
//!
//! Substring keys (RFC 9051 §6.4.4: "a case-insensitive substring match")
//! are `ILIKE '%…%'` with `%`, `_` and `\` escaped, the shape pg_trgm's GIN
//! indexes on `message_search` serve. BODY uses the `bodyparts` tsvector only
//! as a pre-filter that can never drop a true match (see [`body_words`]); the
//! `ILIKE` on the text decides.

use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::StoreError;
use crate::search::{Date, Flag, SearchKey};
use crate::uidset::UidSet;

/// Deepest NOT/OR/AND nesting compiled (the compiler recurses once per
/// level). The IMAP parser should limit depth to this or less; the guard is
/// also for other producers of trees (retention policies, `aox search`), so
/// a hostile tree is refused with Invalid instead of exhausting the stack.
pub const MAX_DEPTH: usize = 100;

/// The UIDs of the entries of `mailbox` matching `key`, ascending. The
/// session has already replaced Seq/Uid/Recent/New/Old by
/// [`SearchKey::UidRanges`] (if any remain, [`StoreError::Invalid`]). ONE
/// statement built from the tree with bound parameters only.
pub async fn search(
    client: &impl GenericClient,
    user: i64,
    mailbox: i64,
    key: &SearchKey,
) -> Result<Vec<u32>, StoreError> {
    let compiled = compile(key)?;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&user, &mailbox];
    params.extend(compiled.params.iter().map(Param::as_sql));
    let rows = client.query(&compiled.sql, &params).await?;
    // uid is CHECKed into 1..2³²−1, so the conversion cannot fail on a row
    // the schema accepted; a row that did not convert is skipped, not a panic.
    Ok(rows
        .iter()
        .filter_map(|r| u32::try_from(r.get::<_, i64>(0)).ok())
        .collect())
}

/// As [`search`], with each UID's modseq: a search with a MODSEQ key
/// answers with the highest modseq of what it found (RFC 7162 §3.1.5).
pub async fn search_with_modseq(
    client: &impl GenericClient,
    user: i64,
    mailbox: i64,
    key: &SearchKey,
) -> Result<Vec<(u32, u64)>, StoreError> {
    let compiled = compile_selecting(key, "e.uid, e.modseq")?;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&user, &mailbox];
    params.extend(compiled.params.iter().map(Param::as_sql));
    let rows = client.query(&compiled.sql, &params).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let Ok(uid) = u32::try_from(r.try_get::<_, i64>(0)?) else {
            continue;
        };
        out.push((uid, super::select::to_u64(r.try_get(1)?, "modseq")?));
    }
    Ok(out)
}

/// The SQL and the parameters (as display strings) a search compiles to, for
/// `aox show search` and for tests. The first two parameters are the user and
/// the mailbox, shown as `<user>` and `<mailbox>`; the `n`th string is `$n`.
pub fn explain(key: &SearchKey) -> Result<(String, Vec<String>), StoreError> {
    let compiled = compile(key)?;
    let mut shown = vec!["<user>".to_string(), "<mailbox>".to_string()];
    shown.extend(compiled.params.iter().map(Param::display));
    Ok((compiled.sql, shown))
}

/// One bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
    Ints(Vec<i64>),
}

impl Param {
    pub(crate) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Int(v) => v,
            Param::Text(v) => v,
            Param::Ints(v) => v,
        }
    }

    fn display(&self) -> String {
        match self {
            Param::Int(v) => v.to_string(),
            Param::Text(v) => v.clone(),
            Param::Ints(v) => {
                let items: Vec<String> = v.iter().map(i64::to_string).collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }
}

/// A statement under construction: its SQL and its parameters from `$3` on.
///
/// Other store modules build their own statements with it (undelete over
/// the tombstones, retention policies inside an expunge): `$1` and `$2` are
/// theirs (the user and, usually, the mailbox), [`Compiled::condition`]
/// compiles a tree against whatever table the statement calls `e` (both
/// `mailbox_entries` and `expunged_entries` have every column a condition
/// reads), and [`Compiled::bind`] adds their own values after the tree's.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) sql: String,
    params: Vec<Param>,
    /// The number of the first parameter it binds.
    first: usize,
}

impl Default for Compiled {
    fn default() -> Self {
        Compiled {
            sql: String::new(),
            params: Vec::new(),
            first: 3,
        }
    }
}

/// A search as a boolean SQL condition on rows aliased `e` with the
/// columns of `mailbox_entries` (which `expunged_entries` shares, so holds
/// and policies can match tombstones too), for callers that embed it in a
/// statement of their own. Its parameters are numbered from the `first`
/// given to [`condition_of`].
#[derive(Debug)]
pub(crate) struct Condition {
    /// The SQL condition.
    pub(crate) sql: String,
    params: Vec<Param>,
}

impl Condition {
    /// The values of its parameters, in order.
    pub(crate) fn params(&self) -> impl Iterator<Item = &(dyn ToSql + Sync)> {
        self.params.iter().map(Param::as_sql)
    }

    /// How many parameters it binds.
    pub(crate) fn len(&self) -> usize {
        self.params.len()
    }
}

/// Compiles `key` into a [`Condition`] whose parameters start at `$first`.
pub(crate) fn condition_of(key: &SearchKey, first: usize) -> Result<Condition, StoreError> {
    let mut c = Compiled {
        first,
        ..Compiled::default()
    };
    let sql = condition(&mut c, key, 0)?;
    Ok(Condition {
        sql,
        params: c.params,
    })
}

impl Compiled {
    /// The SQL condition for `key` over the row called `e`; its values are
    /// bound here. Never NULL, so it can be negated or OR-ed safely.
    pub(crate) fn condition(&mut self, key: &SearchKey) -> Result<String, StoreError> {
        condition(self, key, 0)
    }

    /// The parameters from `$3` on, to follow the caller's `$1` and `$2`.
    pub(crate) fn params(&self) -> impl Iterator<Item = &(dyn ToSql + Sync)> {
        self.params.iter().map(Param::as_sql)
    }

    /// Binds `p` and returns its placeholder with an explicit cast, so the
    /// parameter's type never depends on inference.
    pub(crate) fn bind(&mut self, p: Param) -> String {
        let cast = match p {
            Param::Int(_) => "bigint",
            Param::Text(_) => "text",
            Param::Ints(_) => "bigint[]",
        };
        self.params.push(p);
        format!("${}::{cast}", self.params.len() + self.first - 1)
    }
}

fn compile(key: &SearchKey) -> Result<Compiled, StoreError> {
    compile_selecting(key, "e.uid")
}

fn compile_selecting(key: &SearchKey, columns: &str) -> Result<Compiled, StoreError> {
    let mut c = Compiled::default();
    let condition = condition(&mut c, key, 0)?;
    c.sql = format!(
        "SELECT {columns} FROM mailbox_entries e WHERE e.user_id = $1 AND e.mailbox_id = $2 AND {condition} ORDER BY e.uid"
    );
    Ok(c)
}

/// Correlated sub-select on the message's `message_search` row.
fn on_search_row(predicate: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM message_search s WHERE s.user_id = e.user_id AND s.message_id = e.message_id AND {predicate})"
    )
}

/// Correlated sub-select on the message's `messages` row.
fn on_message_row(predicate: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM messages m WHERE m.user_id = e.user_id AND m.id = e.message_id AND {predicate})"
    )
}

/// The SQL for one key; never NULL (every column it reads is NOT NULL or
/// sits inside an EXISTS), so NOT can wrap it safely.
fn condition(c: &mut Compiled, key: &SearchKey, depth: usize) -> Result<String, StoreError> {
    if depth > MAX_DEPTH {
        return Err(StoreError::Invalid(format!(
            "the search nests deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(match key {
        SearchKey::All => "true".into(),
        SearchKey::Flag(f) => flag(c, f),
        SearchKey::NotFlag(f) => format!("NOT {}", flag(c, f)),
        SearchKey::Recent
        | SearchKey::New
        | SearchKey::Old
        | SearchKey::Uid(_)
        | SearchKey::Seq(_) => {
            return Err(StoreError::Invalid(
                "RECENT, NEW, OLD, UID and sequence sets must be resolved to UIDs before the store searches"
                    .into(),
            ));
        }
        SearchKey::Bcc(s) => substring(c, "s.bcc_text", s),
        SearchKey::Cc(s) => substring(c, "s.cc_text", s),
        SearchKey::From(s) => substring(c, "s.from_text", s),
        SearchKey::To(s) => substring(c, "s.to_text", s),
        SearchKey::Subject(s) => substring(c, "s.subject", s),
        SearchKey::Header(name, value) => header(c, name, value),
        SearchKey::Body(s) => body(c, s),
        // RFC 9051 §6.4.4 TEXT: "in the header or body of the message".
        SearchKey::Text(s) => {
            let header = substring(c, "s.headers", s);
            let body = body(c, s);
            format!("({header} OR {body})")
        }
        SearchKey::Before(d) => {
            let start = day_start(c, d)?;
            format!("e.internaldate < {start}")
        }
        SearchKey::On(d) => {
            let start = day_start(c, d)?;
            format!("(e.internaldate >= {start} AND e.internaldate < {start} + interval '1 day')")
        }
        SearchKey::Since(d) => {
            let start = day_start(c, d)?;
            format!("e.internaldate >= {start}")
        }
        // The Date field is stored as a timestamp, so its own zone is gone:
        // the comparison is on its UTC date. A message without a Date has a
        // NULL header_date, which no comparison matches.
        SearchKey::SentBefore(d) => {
            let start = day_start(c, d)?;
            on_message_row(&format!("m.header_date < {start}"))
        }
        SearchKey::SentOn(d) => {
            let start = day_start(c, d)?;
            on_message_row(&format!(
                "m.header_date >= {start} AND m.header_date < {start} + interval '1 day'"
            ))
        }
        SearchKey::SentSince(d) => {
            let start = day_start(c, d)?;
            on_message_row(&format!("m.header_date >= {start}"))
        }
        // Sizes beyond i64 are beyond any message: clamping keeps the meaning.
        SearchKey::Larger(n) => {
            let n = c.bind(Param::Int(i64::try_from(*n).unwrap_or(i64::MAX)));
            format!("e.rfc822_size > {n}")
        }
        SearchKey::Smaller(n) => {
            let n = c.bind(Param::Int(i64::try_from(*n).unwrap_or(i64::MAX)));
            format!("e.rfc822_size < {n}")
        }
        // RFC 7162 §3.1.5: "modseq … greater than or equal to".
        SearchKey::ModSeq(n) => {
            let n = c.bind(Param::Int(i64::try_from(*n).unwrap_or(i64::MAX)));
            format!("e.modseq >= {n}")
        }
        SearchKey::UidRanges(set) => uid_ranges(c, set),
        // RFC 8474 §5.1: our EMAILID is `M` and the decimal messages.id.
        SearchKey::EmailId(id) => match object_id(id, 'M') {
            Some(n) => {
                let n = c.bind(Param::Int(n));
                format!("e.message_id = {n}")
            }
            None => "false".into(),
        },
        SearchKey::ThreadId(id) => match object_id(id, 'T') {
            Some(n) => {
                let n = c.bind(Param::Int(n));
                on_message_row(&format!("m.thread_id = {n}"))
            }
            None => "false".into(),
        },
        SearchKey::Not(k) => format!("NOT {}", condition(c, k, depth + 1)?),
        SearchKey::Or(a, b) => {
            let a = condition(c, a, depth + 1)?;
            let b = condition(c, b, depth + 1)?;
            format!("({a} OR {b})")
        }
        SearchKey::And(keys) if keys.is_empty() => "true".into(),
        SearchKey::And(keys) => {
            let parts = keys
                .iter()
                .map(|k| condition(c, k, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            format!("({})", parts.join(" AND "))
        }
    })
}

fn flag(c: &mut Compiled, f: &Flag) -> String {
    match f {
        Flag::Seen => "e.seen".into(),
        Flag::Answered => "e.answered".into(),
        Flag::Flagged => "e.flagged".into(),
        Flag::Deleted => "e.deleted".into(),
        Flag::Draft => "e.draft".into(),
        // keywords.name is citext: the cast makes the comparison
        // case-insensitive (a text = text comparison would not be). A keyword
        // the user never used has no row, so KEYWORD matches nothing and
        // UNKEYWORD (its NOT) everything.
        Flag::Keyword(k) => {
            let k = c.bind(Param::Text(k.clone()));
            format!(
                "EXISTS (SELECT 1 FROM keywords k WHERE k.user_id = e.user_id AND k.name = ({k})::citext \
                 AND k.id = ANY (e.keywords))"
            )
        }
    }
}

/// `s` as a LIKE pattern matching itself anywhere: `%`, `_` and `\` escaped
/// (backslash is LIKE's default escape character).
fn contains_pattern(s: &str) -> String {
    let mut like = String::with_capacity(s.len() + 4);
    like.push('%');
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            like.push('\\');
        }
        like.push(ch);
    }
    like.push('%');
    like
}

/// A case-insensitive substring match on a `message_search` column.
fn substring(c: &mut Compiled, column: &str, s: &str) -> String {
    let p = c.bind(Param::Text(contains_pattern(s)));
    on_search_row(&format!("{column} ILIKE {p}"))
}

/// RFC 9051 §6.4.4 HEADER: a field named `name` (case-insensitively) whose
/// value contains `value`; an empty value matches every message with the
/// field. `headers` holds one `Name: value` line per field. The whole-column
/// ILIKE first is a cheap filter before the lines are split.
fn header(c: &mut Compiled, name: &str, value: &str) -> String {
    let pattern = c.bind(Param::Text(contains_pattern(value)));
    let name = c.bind(Param::Text(name.to_string()));
    on_search_row(&format!(
        "s.headers ILIKE {pattern} AND EXISTS (SELECT 1 FROM unnest(string_to_array(s.headers, E'\\n')) AS h(line) \
         WHERE lower(split_part(h.line, ':', 1)) = lower({name}) \
         AND substr(h.line, strpos(h.line, ':') + 2) ILIKE {pattern})"
    ))
}

/// Words of `s` the full-text pre-filter may require, joined by spaces for
/// `plainto_tsquery` (which ANDs them), or None when none is safe.
///
/// Substring semantics make most words unusable: `nvoic` must find
/// `invoice`, so a word at either end of `s` may be part of a longer word in
/// the text. A word with whitespace on both sides *inside* `s` is whole in
/// the text too, and the `simple` parser emits an ASCII letter/digit run
/// between whitespace as a lexeme of its own, lower-cased — unless it sits
/// inside something the parser reads as an HTML tag (`<a for b>` yields no
/// lexemes at all), which is why [`body`] also lets every text with a `<`
/// through. Phrase operators are not used: tsvector positions saturate at
/// 16383, so adjacency is not reliable in long texts. Words over 2047 bytes
/// are never indexed, so they are left out too.
fn body_words(s: &str) -> Option<String> {
    let pieces: Vec<&str> = s.split([' ', '\t', '\r', '\n']).collect();
    // Interior pieces only: the first and last are bounded by the ends of
    // `s`, not by whitespace.
    let interior = pieces.get(1..pieces.len().saturating_sub(1)).unwrap_or(&[]);
    let safe: Vec<&str> = interior
        .iter()
        .copied()
        .filter(|w| !w.is_empty() && w.len() < 2048 && w.bytes().all(|b| b.is_ascii_alphanumeric()))
        .collect();
    (!safe.is_empty()).then(|| safe.join(" "))
}

/// RFC 9051 §6.4.4 BODY: any body part of the message whose text contains
/// `s`. The tsvector pre-filter is only applied where it is exact for the
/// words chosen by [`body_words`]; parts without a vector (not filled yet:
/// see [`super::vectors`]), parts longer than the vector's bound of 200,000
/// characters (`bodypart_tsvector` in the schema) and texts the parser may
/// have read tags in go straight to the exact ILIKE. Length is tested in
/// bytes, which PostgreSQL reads from the value's header without
/// decompressing it, and which are never fewer than the characters.
fn body(c: &mut Compiled, s: &str) -> String {
    let pattern = c.bind(Param::Text(contains_pattern(s)));
    let prefilter = match body_words(s) {
        Some(words) => {
            let words = c.bind(Param::Text(words));
            format!(
                "(b.search_tsv @@ plainto_tsquery('simple', {words}) OR b.search_tsv IS NULL \
                 OR octet_length(b.text) > 200000 OR strpos(b.text, '<') > 0) AND "
            )
        }
        None => String::new(),
    };
    format!(
        "EXISTS (SELECT 1 FROM message_parts p JOIN bodyparts b ON b.hash = p.bodypart_hash \
         WHERE p.user_id = e.user_id AND p.message_id = e.message_id AND {prefilter}b.text ILIKE {pattern})"
    )
}

/// The first instant of `d` in UTC, as SQL over a bound `YYYY-MM-DD`.
fn day_start(c: &mut Compiled, d: &Date) -> Result<String, StoreError> {
    let valid = (1..=9999).contains(&d.year)
        && (1..=12).contains(&d.month)
        && d.day >= 1
        && d.day <= days_in_month(d.year, d.month);
    if !valid {
        return Err(StoreError::Invalid(format!(
            "{}-{}-{} is not a date",
            d.year, d.month, d.day
        )));
    }
    let p = c.bind(Param::Text(format!(
        "{:04}-{:02}-{:02}",
        d.year, d.month, d.day
    )));
    Ok(format!("(({p})::date::timestamp AT TIME ZONE 'UTC')"))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// UID ranges as bounds: one range is a plain BETWEEN the primary key serves
/// directly; several go as two arrays (DESIGN.md §4.4); `1:4294967295` is no
/// predicate at all and the empty set matches nothing.
fn uid_ranges(c: &mut Compiled, set: &UidSet) -> String {
    if *set == UidSet::everything() {
        return "true".into();
    }
    match set.ranges() {
        [] => "false".into(),
        [(lo, hi)] => {
            let lo = c.bind(Param::Int(i64::from(*lo)));
            let hi = c.bind(Param::Int(i64::from(*hi)));
            format!("e.uid BETWEEN {lo} AND {hi}")
        }
        _ => {
            let (lows, highs) = set.bounds();
            let lows = c.bind(Param::Ints(lows));
            let highs = c.bind(Param::Ints(highs));
            format!(
                "EXISTS (SELECT 1 FROM unnest({lows}, {highs}) AS r(lo, hi) WHERE e.uid BETWEEN r.lo AND r.hi)"
            )
        }
    }
}

/// The number in an RFC 8474 object id of ours: `prefix` and canonical
/// decimal digits (no sign, no leading zero), in bigint range.
fn object_id(id: &str, prefix: char) -> Option<i64> {
    let digits = id.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests;
