//! The form of each migration for the server it goes to: the `sql/` files are written once, for the
//! intersection of ClickHouse 18.16 and current versions, and rules over their text derive what a current
//! server or a replicated cluster should get instead.
//!
//! Rules, not per-file alternatives, because an applied file may never change (its checksum is recorded),
//! and because the files keep being written by people who should not have to know every deployment: a new
//! file gets the current-server and cluster forms without doing anything, and the rules are listed in
//! sql/README.md ("Server variants"). On 18.16 (and anything older than [`MODERN_SINCE`]) without a cluster,
//! every statement goes out exactly as written.
//!
//! The rules read tokens (words, quoted strings, punctuation; comments skipped), not a grammar: they
//! recognise the few statement shapes migrations use and refuse, naming the file, a statement they cannot
//! place on a cluster, rather than guess.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// The first version given the current-server form: 21.8, the oldest long-term-support release with
/// everything the form uses (LowCardinality without a setting, table TTL, `kafka_handle_error_mode`, SQL
/// users, `{database}`/`{table}` macros in replicated paths).
pub const MODERN_SINCE: (u32, u32) = (21, 8);

/// Columns holding few distinct values (a kind, a country, a browser family...), stored as
/// `LowCardinality(String)` on current servers wherever a table declares them as plain `String`: the
/// analytics model's list (its low-cardinality dimensions and a few other stored columns).
static LOW_CARDINALITY_COLUMNS: LazyLock<Vec<String>> = LazyLock::new(analytics_model::low_cardinality_columns);

/// Tables whose rows expire after EVENTS_RETENTION_DAYS, and the column they are counted from.
pub const EVENT_RETENTION_TABLES: &[(&str, &str)] = &[("page_visits", "timestamp")];

/// Where failed Kafka records go on current servers, one row per record that could not be parsed.
pub const DEAD_LETTER_TABLE: &str = "kafka_dead_letters";

/// Raw records kept in the dead-letter table: long enough to look at, short enough not to keep personal
/// data (a failed page-visit record carries an IP) for longer than the events themselves.
const DEAD_LETTER_DAYS: u32 = 30;

/// Which form the statements take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub modern: bool,
    /// `ON CLUSTER` DDL, replicated tables and Distributed tables over them (current servers only).
    pub cluster: Option<String>,
    /// The database the Distributed tables point at.
    pub database: String,
    /// EVENTS_RETENTION_DAYS: 0 keeps events forever.
    pub events_retention_days: u32,
}

impl Target {
    /// The form for a server answering `version()` with `version` (e.g. `18.16.1`, `24.8.4.13`).
    pub fn for_version(version: &str) -> Result<Self, VariantError> {
        let modern = parse_version(version)? >= MODERN_SINCE;
        Ok(Self { modern, cluster: None, database: String::new(), events_retention_days: 0 })
    }

    /// Statements exactly as written: what 18.16 gets.
    pub fn legacy() -> Self {
        Self { modern: false, cluster: None, database: String::new(), events_retention_days: 0 }
    }
}

/// `major.minor` of a `version()` answer.
pub fn parse_version(version: &str) -> Result<(u32, u32), VariantError> {
    let mut parts = version.trim().split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Ok((major, minor)),
        _ => Err(VariantError::Version(version.to_owned())),
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    #[error("cannot read the server version {0:?}: expected MAJOR.MINOR[.PATCH...], e.g. 24.8")]
    Version(String),
    #[error("cannot derive the cluster form of this statement ({0}): migrations on a cluster may only CREATE TABLE, CREATE MATERIALIZED VIEW ... TO, ALTER TABLE and DROP TABLE (see sql/README.md, \"Server variants\")")]
    ClusterUnsupported(String),
    #[error("the statement has unbalanced parentheses or an unterminated quote or comment")]
    Malformed,
}

/// The statements one migration file becomes, in the order they run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Variant {
    /// Generated statements that must run before the file's own (e.g. dropping a view that reads a table
    /// the file drops).
    pub before: Vec<String>,
    pub statement: String,
    /// Generated statements that complete the file's (a Distributed table over a local one, the
    /// dead-letter view of a Kafka table).
    pub after: Vec<String>,
}

/// Carries what earlier files created into the rules for later ones (which tables became `_local` on a
/// cluster, which tables are Kafka queues), so one instance reads all migrations in version order.
#[derive(Debug, Clone)]
pub struct Rewriter {
    target: Target,
    local_tables: HashSet<String>,
    kafka_tables: HashSet<String>,
}

impl Rewriter {
    pub fn new(target: Target) -> Self {
        Self { target, local_tables: HashSet::new(), kafka_tables: HashSet::new() }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The form of one migration statement (placeholders already filled) for the target.
    pub fn rewrite(&mut self, sql: &str) -> Result<Variant, VariantError> {
        let (statement, before, after) = self.rewrite_one(sql)?;
        let mut variant = Variant { statement, ..Variant::default() };
        for generated in before {
            self.expand(generated, &mut variant.before)?;
        }
        for generated in after {
            self.expand(generated, &mut variant.after)?;
        }
        Ok(variant)
    }

    fn expand(&mut self, generated: Generated, out: &mut Vec<String>) -> Result<(), VariantError> {
        match generated {
            Generated::Final(sql) => out.push(sql),
            Generated::Written(sql) => {
                let (statement, before, after) = self.rewrite_one(&sql)?;
                for g in before {
                    self.expand(g, out)?;
                }
                out.push(statement);
                for g in after {
                    self.expand(g, out)?;
                }
            }
        }
        Ok(())
    }

    /// One statement: its new text, and generated statements to run before and after it.
    fn rewrite_one(&mut self, sql: &str) -> Result<(String, Vec<Generated>, Vec<Generated>), VariantError> {
        if !self.target.modern && self.target.cluster.is_none() {
            self.observe(sql);
            return Ok((sql.to_owned(), Vec::new(), Vec::new()));
        }
        let tokens = tokenize(sql)?;
        let words: Vec<String> = tokens.iter().map(|t| t.upper(sql)).collect();
        let mut edits = Edits::default();
        let mut before = Vec::new();
        let mut after = Vec::new();
        let head = Head::read(&tokens, &words, sql);
        match &head {
            Some(Head::CreateTable { name, name_at }) => {
                let engine = engine_of(&tokens, &words);
                let is_kafka = engine.as_ref().is_some_and(|e| words[e.name] == "KAFKA");
                let is_merge_tree = engine.as_ref().is_some_and(|e| words[e.name].ends_with("MERGETREE"));
                if self.target.modern {
                    self.low_cardinality(&tokens, &words, sql, &mut edits);
                    if is_merge_tree {
                        self.retention(name, &tokens, &words, sql, &mut edits);
                    }
                    if is_kafka {
                        self.kafka_pacing(&tokens, &words, sql, &mut edits);
                        after.extend(
                            self.handle_kafka_errors(name, &tokens, &words, sql, &mut edits)
                                .into_iter()
                                .map(Generated::Written),
                        );
                    }
                }
                if let Some(cluster) = self.target.cluster.clone() {
                    let source = as_source(&tokens, &words);
                    if let Some(at) = source {
                        self.localise_reference(&tokens, sql, at, &mut edits);
                    }
                    if is_merge_tree {
                        let local = format!("{name}_local");
                        edits.replace(&tokens[*name_at], format!("{local} ON CLUSTER {cluster}"));
                        self.replicate_engine(engine.as_ref().expect("a MergeTree engine"), &tokens, sql, &mut edits);
                        after.insert(0, Generated::Final(self.distributed(name, &cluster)));
                        self.local_tables.insert(name.clone());
                    } else {
                        edits.insert_after(&tokens[*name_at], format!(" ON CLUSTER {cluster}"));
                    }
                }
                if is_kafka {
                    self.kafka_tables.insert(name.clone());
                }
            }
            Some(Head::CreateView { name_at, to_at }) => {
                if self.target.modern {
                    self.skip_failed_kafka_records(&tokens, &words, sql, &mut edits);
                }
                if let Some(cluster) = self.target.cluster.clone() {
                    let Some(to_at) = to_at else {
                        return Err(VariantError::ClusterUnsupported(
                            "a materialized view without TO: on a cluster it must write to a named local table".into(),
                        ));
                    };
                    edits.insert_after(&tokens[*name_at], format!(" ON CLUSTER {cluster}"));
                    self.localise_reference(&tokens, sql, *to_at, &mut edits);
                    for (i, word) in words.iter().enumerate() {
                        if (word == "FROM" || word == "JOIN") && i + 1 < tokens.len() {
                            self.localise_reference(&tokens, sql, i + 1, &mut edits);
                        }
                    }
                }
            }
            Some(Head::AlterTable { name, name_at }) => {
                if self.target.modern {
                    // 18.16 has no `ADD COLUMN IF NOT EXISTS`; current servers make the file idempotent with it.
                    for at in 1..words.len().saturating_sub(1) {
                        if words[at - 1] == "ADD" && words[at] == "COLUMN" && words[at + 1] != "IF" {
                            edits.insert_after(&tokens[at], " IF NOT EXISTS".to_owned());
                        }
                    }
                }
                if let Some(cluster) = self.target.cluster.clone() {
                    if self.local_tables.contains(name) {
                        edits.replace(&tokens[*name_at], format!("{name}_local ON CLUSTER {cluster}"));
                        let action = words.get(name_at + 1).map(String::as_str);
                        let column = words.get(name_at + 2).map(String::as_str) == Some("COLUMN");
                        if matches!(action, Some("ADD" | "DROP" | "MODIFY" | "RENAME" | "COMMENT")) && column {
                            // The Distributed table has its own copy of the columns.
                            let rest = &sql[tokens[*name_at].end..];
                            // It has no sorting key: of a change that also extends the key, only the
                            // columns apply to it.
                            let rest = rest.find(", MODIFY ORDER BY").map_or(rest, |at| &rest[..at]);
                            let rest = if rest.contains("ADD COLUMN IF NOT EXISTS") {
                                rest.to_owned()
                            } else {
                                rest.replace("ADD COLUMN ", "ADD COLUMN IF NOT EXISTS ")
                            };
                            after.push(Generated::Final(format!("ALTER TABLE {name} ON CLUSTER {cluster}{rest}")));
                        }
                    } else {
                        edits.insert_after(&tokens[*name_at], format!(" ON CLUSTER {cluster}"));
                    }
                }
            }
            Some(Head::DropTable { name, name_at }) => {
                if self.target.modern && self.kafka_tables.contains(name) {
                    before.push(Generated::Written(format!("DROP TABLE IF EXISTS {}", dead_letter_view(name))));
                    self.kafka_tables.remove(name);
                }
                if let Some(cluster) = self.target.cluster.clone() {
                    edits.insert_after(&tokens[*name_at], format!(" ON CLUSTER {cluster}"));
                    if self.local_tables.remove(name) {
                        // The Distributed table goes first: it reads the local one.
                        after.push(Generated::Final(format!("DROP TABLE IF EXISTS {name}_local ON CLUSTER {cluster}")));
                    }
                }
            }
            None if self.target.cluster.is_some() => {
                let start: String = words.iter().take(3).cloned().collect::<Vec<_>>().join(" ");
                return Err(VariantError::ClusterUnsupported(start));
            }
            None => {}
        }
        Ok((edits.apply(sql), before, after))
    }

    /// Records what a statement sent as written creates, so the legacy form tracks the same state.
    fn observe(&mut self, sql: &str) {
        // The legacy form never refuses: whatever the text is, the server judges it as written.
        let Ok(tokens) = tokenize(sql) else { return };
        let words: Vec<String> = tokens.iter().map(|t| t.upper(sql)).collect();
        match Head::read(&tokens, &words, sql) {
            Some(Head::CreateTable { name, .. })
                if engine_of(&tokens, &words).is_some_and(|e| words[e.name] == "KAFKA") =>
            {
                self.kafka_tables.insert(name);
            }
            Some(Head::DropTable { name, .. }) => {
                self.kafka_tables.remove(&name);
            }
            _ => {}
        }
    }

    /// `name String` -> `name LowCardinality(String)` in a column list, for the columns listed above.
    fn low_cardinality(&self, tokens: &[Token], words: &[String], sql: &str, edits: &mut Edits) {
        let Some(open) = tokens.iter().position(|t| t.is(sql, "(")) else { return };
        // Only a column list: `CREATE TABLE t (` directly, not `ENGINE = X(`.
        if words[..open].iter().any(|w| w == "ENGINE" || w == "AS") {
            return;
        }
        let mut depth = 0usize;
        let mut expect_column = true;
        for i in open..tokens.len() {
            let token = &tokens[i];
            if token.is(sql, "(") {
                depth += 1;
                if depth == 1 {
                    expect_column = true;
                }
                continue;
            }
            if token.is(sql, ")") {
                depth -= 1;
                if depth == 0 {
                    return;
                }
                continue;
            }
            if depth == 1 && token.is(sql, ",") {
                expect_column = true;
                continue;
            }
            if depth == 1 && expect_column {
                expect_column = false;
                let name = token.text(sql).trim_matches('`');
                let type_is_string = tokens.get(i + 1).is_some_and(|t| t.text(sql) == "String")
                    && tokens.get(i + 2).is_none_or(|t| !t.is(sql, "("));
                if LOW_CARDINALITY_COLUMNS.iter().any(|column| column == name) && type_is_string {
                    edits.replace(&tokens[i + 1], "LowCardinality(String)".to_owned());
                }
            }
        }
    }

    /// `TTL column + INTERVAL N DAY` on the tables of [`EVENT_RETENTION_TABLES`], before any SETTINGS.
    fn retention(&self, name: &str, tokens: &[Token], words: &[String], sql: &str, edits: &mut Edits) {
        let days = self.target.events_retention_days;
        let Some((_, column)) = EVENT_RETENTION_TABLES.iter().find(|(table, _)| *table == name) else { return };
        if days == 0 || words.iter().any(|w| w == "TTL") {
            return;
        }
        let clause = format!("TTL {column} + INTERVAL {days} DAY");
        match top_level(tokens, sql).find(|&i| words[i] == "SETTINGS") {
            Some(i) => edits.insert_before(&tokens[i], format!("{clause}\n")),
            None => edits.insert_after(statement_end(tokens, sql), format!("\n{clause}")),
        }
    }

    /// ClickHouse 18.16 ends a Kafka read only at a block boundary, so the files set `kafka_max_block_size = 1`
    /// for freshness (sql/README.md, "Freshness and parts"). On a current server that would make nearly every
    /// poll an insert; there a read is bounded in time instead, by `kafka_flush_interval_ms` (which 18.16
    /// refuses, so the files cannot say it themselves), and the block size is left at its default.
    fn kafka_pacing(&self, tokens: &[Token], words: &[String], sql: &str, edits: &mut Edits) {
        if words.iter().any(|w| w == "KAFKA_FLUSH_INTERVAL_MS") {
            return; // the file chose for itself
        }
        let Some(at) = words.iter().position(|w| w == "KAFKA_MAX_BLOCK_SIZE") else { return };
        let (Some(equals), Some(value)) = (tokens.get(at + 1), tokens.get(at + 2)) else { return };
        if !equals.is(sql, "=") || words[at + 2] != "1" {
            return; // a real block size is as valid on a current server
        }
        edits.replace_span(tokens[at].start, value.end, format!("kafka_flush_interval_ms = {KAFKA_FLUSH_INTERVAL_MS}"));
    }

    /// A Kafka table on a current server hands records it cannot parse to its views, as `_error` and
    /// `_raw_message`, instead of stopping at them; a generated view keeps them in the dead-letter table.
    fn handle_kafka_errors(
        &self,
        name: &str,
        tokens: &[Token],
        words: &[String],
        sql: &str,
        edits: &mut Edits,
    ) -> Vec<String> {
        if words.iter().any(|w| w == "KAFKA_HANDLE_ERROR_MODE") {
            return Vec::new(); // the file chose for itself
        }
        let Some(settings) = top_level(tokens, sql).find(|&i| words[i] == "SETTINGS") else { return Vec::new() };
        let last = statement_end(tokens, sql);
        if last.start < tokens[settings].end {
            return Vec::new();
        }
        edits.insert_after(last, ",\n    kafka_handle_error_mode = 'stream'".to_owned());
        vec![dead_letter_table(), dead_letter_view_sql(name)]
    }

    /// A view reading a Kafka table in stream mode must skip the records that failed (their columns are
    /// defaults), unless it reads `_error` itself.
    fn skip_failed_kafka_records(&self, tokens: &[Token], words: &[String], sql: &str, edits: &mut Edits) {
        if words.iter().any(|w| w == "_ERROR") {
            return;
        }
        let levels = depths(tokens, sql);
        let Some(from) = words.iter().position(|w| w == "FROM") else { return };
        let Some(source) = tokens.get(from + 1) else { return };
        if !self.kafka_tables.contains(source.text(sql).trim_matches('`')) {
            return;
        }
        let depth = levels[from];
        let clause_end = (from + 2..tokens.len())
            .find(|&i| {
                let keyword =
                    matches!(words[i].as_str(), "GROUP" | "ORDER" | "LIMIT" | "HAVING" | "SETTINGS" | "UNION");
                (levels[i] == depth && (keyword || tokens[i].is(sql, ";")))
                    || (tokens[i].is(sql, ")") && levels[i] < depth)
            })
            .unwrap_or(tokens.len());
        match (from + 2..clause_end).find(|&i| levels[i] == depth && words[i] == "WHERE") {
            Some(where_at) => {
                edits.insert_after(&tokens[where_at], " length(_error) = 0 AND (".to_owned());
                edits.insert_after(&tokens[clause_end - 1], ")".to_owned());
            }
            None => edits.insert_after(source, " WHERE length(_error) = 0".to_owned()),
        }
    }

    /// `table` -> `table_local` at token `at` when that table was made local.
    fn localise_reference(&self, tokens: &[Token], sql: &str, at: usize, edits: &mut Edits) {
        let Some(token) = tokens.get(at) else { return };
        let name = token.text(sql).trim_matches('`');
        if self.local_tables.contains(name) {
            edits.replace(token, format!("{name}_local"));
        }
    }

    /// `XMergeTree[(args)]` -> `ReplicatedXMergeTree('/clickhouse/tables/{shard}/{database}/{table}',
    /// '{replica}'[, args])`.
    fn replicate_engine(&self, engine: &Engine, tokens: &[Token], sql: &str, edits: &mut Edits) {
        let path = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'";
        let name = tokens[engine.name].text(sql);
        match engine.args {
            Some(open) if !tokens[open + 1].is(sql, ")") => {
                edits.replace(&tokens[engine.name], format!("Replicated{name}"));
                edits.insert_after(&tokens[open], format!("{path}, "));
            }
            Some(open) => {
                edits.replace(&tokens[engine.name], format!("Replicated{name}"));
                edits.insert_after(&tokens[open], path.to_owned());
            }
            None => edits.replace(&tokens[engine.name], format!("Replicated{name}({path})")),
        }
    }

    fn distributed(&self, name: &str, cluster: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} AS {name}_local\n\
             ENGINE = Distributed({cluster}, {}, {name}_local)",
            self.target.database
        )
    }
}

/// How long a current server's Kafka read may wait for more records before it inserts what it has: the
/// local stack's `stream_flush_interval_ms` on 18.16 (sql/README.md, "Freshness and parts").
const KAFKA_FLUSH_INTERVAL_MS: u32 = 500;

fn dead_letter_view(queue: &str) -> String {
    format!("{queue}_dead_letters_mv")
}

fn dead_letter_table() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {DEAD_LETTER_TABLE}\n(\n    received_at DateTime('UTC'),\n    queue String,\n    \
         topic String,\n    partition UInt64,\n    offset UInt64,\n    error String,\n    raw_message String\n)\n\
         ENGINE = MergeTree\nPARTITION BY toYYYYMM(received_at)\nORDER BY (queue, received_at)\n\
         TTL received_at + INTERVAL {DEAD_LETTER_DAYS} DAY"
    )
}

fn dead_letter_view_sql(queue: &str) -> String {
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {} TO {DEAD_LETTER_TABLE}\nAS SELECT\n    now() AS received_at,\n    \
         '{queue}' AS queue,\n    _topic AS topic,\n    _partition AS partition,\n    _offset AS offset,\n    \
         _error AS error,\n    _raw_message AS raw_message\nFROM {queue}\nWHERE length(_error) > 0",
        dead_letter_view(queue)
    )
}

/// A statement a rule adds: `Written` as a file would write it (the rules apply to it too), `Final` already in
/// the target's form.
#[derive(Debug)]
enum Generated {
    Written(String),
    Final(String),
}

/// The statement shapes the rules know.
#[derive(Debug)]
enum Head {
    CreateTable {
        name: String,
        name_at: usize,
    },
    /// `to_at`: the token after `TO`, when the view writes to a table of its own choosing.
    CreateView {
        name_at: usize,
        to_at: Option<usize>,
    },
    AlterTable {
        name: String,
        name_at: usize,
    },
    DropTable {
        name: String,
        name_at: usize,
    },
}

impl Head {
    fn read(tokens: &[Token], words: &[String], sql: &str) -> Option<Self> {
        let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
        let name_after = |mut i: usize, optional: &[&str]| {
            if optional.iter().enumerate().all(|(k, w)| word(i + k) == *w) {
                i += optional.len();
            }
            (i < tokens.len()).then(|| (tokens[i].text(sql).trim_matches('`').to_owned(), i))
        };
        match (word(0), word(1), word(2)) {
            ("CREATE", "TABLE", _) => {
                name_after(2, &["IF", "NOT", "EXISTS"]).map(|(name, name_at)| Head::CreateTable { name, name_at })
            }
            ("CREATE", "MATERIALIZED", "VIEW") => {
                let (_, name_at) = name_after(3, &["IF", "NOT", "EXISTS"])?;
                let to_at = (word(name_at + 1) == "TO").then_some(name_at + 2);
                Some(Head::CreateView { name_at, to_at })
            }
            ("ALTER", "TABLE", _) => name_after(2, &[]).map(|(name, name_at)| Head::AlterTable { name, name_at }),
            ("DROP", "TABLE" | "VIEW", _) => {
                name_after(2, &["IF", "EXISTS"]).map(|(name, name_at)| Head::DropTable { name, name_at })
            }
            _ => None,
        }
    }
}

struct Engine {
    /// Token index of the engine's name.
    name: usize,
    /// Token index of its `(`, when it has arguments.
    args: Option<usize>,
}

fn engine_of(tokens: &[Token], words: &[String]) -> Option<Engine> {
    let at = words.iter().position(|w| w == "ENGINE")?;
    let name = if words.get(at + 1).map(String::as_str) == Some("=") { at + 2 } else { at + 1 };
    (name < tokens.len())
        .then(|| Engine { name, args: (words.get(name + 1).map(String::as_str) == Some("(")).then_some(name + 1) })
}

/// `CREATE TABLE q AS t ...`: the token of `t`.
fn as_source(tokens: &[Token], words: &[String]) -> Option<usize> {
    let engine = words.iter().position(|w| w == "ENGINE").unwrap_or(tokens.len());
    let at = words[..engine].iter().position(|w| w == "AS")?;
    (at + 1 < engine).then_some(at + 1)
}

/// Indexes of the tokens outside every parenthesis.
fn top_level<'a>(tokens: &'a [Token], sql: &'a str) -> impl Iterator<Item = usize> + 'a {
    let levels = depths(tokens, sql);
    (0..tokens.len()).filter(move |&i| levels[i] == 0)
}

/// The parenthesis depth of each token (a parenthesis itself counts as outside).
fn depths(tokens: &[Token], sql: &str) -> Vec<usize> {
    let mut depth = 0usize;
    tokens
        .iter()
        .map(|t| {
            if t.is(sql, ")") {
                depth = depth.saturating_sub(1);
            }
            let level = depth;
            if t.is(sql, "(") {
                depth += 1;
            }
            level
        })
        .collect()
}

/// The last token of the statement, before its `;`.
fn statement_end<'a>(tokens: &'a [Token], sql: &str) -> &'a Token {
    let last = tokens.len() - 1;
    if tokens[last].is(sql, ";") && last > 0 {
        &tokens[last - 1]
    } else {
        &tokens[last]
    }
}

#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
}

impl Token {
    fn text<'a>(&self, sql: &'a str) -> &'a str {
        &sql[self.start..self.end]
    }

    fn is(&self, sql: &str, punct: &str) -> bool {
        self.text(sql) == punct
    }

    fn upper(&self, sql: &str) -> String {
        self.text(sql).to_ascii_uppercase()
    }
}

/// Words (identifiers, keywords, numbers, backquoted names), quoted strings and single punctuation
/// characters; whitespace and comments are skipped.
fn tokenize(sql: &str) -> Result<Vec<Token>, VariantError> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut depth = 0i64;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if sql[i..].starts_with("/*") {
            i = sql[i + 2..].find("*/").map(|n| i + 2 + n + 2).ok_or(VariantError::Malformed)?;
        } else if b == b'\'' || b == b'`' || b == b'"' {
            let start = i;
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(VariantError::Malformed),
                    Some(b'\\') => i += 2,
                    Some(&c) if c == b => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            tokens.push(Token { start, end: i });
        } else if b.is_ascii_alphanumeric() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            tokens.push(Token { start, end: i });
        } else {
            let width = sql[i..].chars().next().map_or(1, char::len_utf8);
            depth += i64::from(b == b'(') - i64::from(b == b')');
            if depth < 0 {
                return Err(VariantError::Malformed);
            }
            tokens.push(Token { start: i, end: i + width });
            i += width;
        }
    }
    if depth != 0 || tokens.is_empty() {
        return Err(VariantError::Malformed);
    }
    Ok(tokens)
}

/// Text edits at token positions, applied together so that no edit shifts another.
#[derive(Default)]
struct Edits(Vec<(usize, usize, String)>);

impl Edits {
    fn replace(&mut self, token: &Token, text: String) {
        self.0.push((token.start, token.end, text));
    }

    fn replace_span(&mut self, start: usize, end: usize, text: String) {
        self.0.push((start, end, text));
    }

    fn insert_after(&mut self, token: &Token, text: String) {
        self.0.push((token.end, token.end, text));
    }

    fn insert_before(&mut self, token: &Token, text: String) {
        self.0.push((token.start, token.start, text));
    }

    fn apply(mut self, sql: &str) -> String {
        // Stable: two insertions at one place keep the order the rules made them in.
        self.0.sort_by_key(|(start, _, _)| *start);
        let mut out = String::with_capacity(sql.len() + 256);
        let mut at = 0;
        for (start, end, text) in self.0 {
            if start < at {
                continue; // a second edit of a token already replaced
            }
            out.push_str(&sql[at..start]);
            out.push_str(&text);
            at = end;
        }
        out.push_str(&sql[at..]);
        out
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.modern { "current ClickHouse" } else { "ClickHouse 18.16 form" })?;
        if let Some(cluster) = &self.cluster {
            write!(f, " on cluster {cluster}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modern(days: u32) -> Rewriter {
        Rewriter::new(Target { modern: true, cluster: None, database: "pathlight".into(), events_retention_days: days })
    }

    fn cluster() -> Rewriter {
        Rewriter::new(Target {
            modern: true,
            cluster: Some("pathlight".into()),
            database: "pathlight".into(),
            events_retention_days: 0,
        })
    }

    const TABLE: &str = "-- why; with a semicolon\nCREATE TABLE IF NOT EXISTS page_visits\n(\n    kind String,\n    \
                         props String,\n    country String,\n    stats AggregateFunction(argMin, String, UInt64),\n    \
                         timestamp DateTime('UTC')\n)\nENGINE = ReplacingMergeTree\nPARTITION BY toYYYYMM(timestamp)\n\
                         ORDER BY (site, kind);\n";
    const QUEUE: &str = "CREATE TABLE IF NOT EXISTS page_visits_queue AS page_visits\nENGINE = Kafka\nSETTINGS\n    \
                         kafka_format = 'JSONEachRow';";

    #[test]
    fn the_legacy_form_is_the_file_exactly() {
        let mut rewriter = Rewriter::new(Target::legacy());
        for sql in [TABLE, QUEUE, "SELECT 1"] {
            assert_eq!(
                rewriter.rewrite(sql).expect("rewrites"),
                Variant { statement: sql.into(), ..Variant::default() }
            );
        }
    }

    #[test]
    fn a_column_added_on_a_current_server_is_added_only_if_missing_so_the_file_can_run_again() {
        let alter = "ALTER TABLE stats_daily_runs ADD COLUMN paired UInt8 DEFAULT 0";
        let statement = modern(0).rewrite(alter).expect("rewrites").statement;
        assert_eq!(statement, "ALTER TABLE stats_daily_runs ADD COLUMN IF NOT EXISTS paired UInt8 DEFAULT 0");
        let already = "ALTER TABLE t ADD COLUMN IF NOT EXISTS c UInt8";
        assert_eq!(modern(0).rewrite(already).expect("rewrites").statement, already);
        assert_eq!(Rewriter::new(Target::legacy()).rewrite(alter).expect("rewrites").statement, alter);

        let mut on_cluster = cluster();
        on_cluster
            .rewrite("CREATE TABLE IF NOT EXISTS stats_daily_runs (day Date) ENGINE = MergeTree ORDER BY day")
            .expect("rewrites");
        let variant = on_cluster.rewrite(alter).expect("rewrites");
        assert_eq!(
            variant.statement,
            "ALTER TABLE stats_daily_runs_local ON CLUSTER pathlight ADD COLUMN IF NOT EXISTS paired UInt8 DEFAULT 0"
        );
        assert_eq!(
            variant.after,
            ["ALTER TABLE stats_daily_runs ON CLUSTER pathlight ADD COLUMN IF NOT EXISTS paired UInt8 DEFAULT 0"]
        );
    }

    #[test]
    fn servers_from_21_8_get_the_current_form() {
        assert!(!Target::for_version("18.16.1").expect("parses").modern);
        assert!(!Target::for_version("21.3.20.1").expect("parses").modern);
        assert!(Target::for_version("21.8.15.7").expect("parses").modern);
        assert!(Target::for_version("24.8.4.13").expect("parses").modern);
        assert_eq!(Target::for_version("latest"), Err(VariantError::Version("latest".into())));
    }

    #[test]
    fn low_cardinality_columns_declared_as_string_become_low_cardinality() {
        let variant = modern(0).rewrite(TABLE).expect("rewrites");
        assert!(variant.statement.contains("kind LowCardinality(String),"), "{}", variant.statement);
        assert!(variant.statement.contains("country LowCardinality(String),"));
        assert!(variant.statement.contains("props String,"), "not a listed column");
        assert!(variant.statement.contains("AggregateFunction(argMin, String, UInt64)"), "not a column's own type");
        assert!(variant.statement.starts_with("-- why; with a semicolon\n"), "comments stay");
        assert!(!variant.statement.contains("TTL"), "0 days keeps events forever");
    }

    #[test]
    fn the_event_tables_get_a_ttl_from_the_retention_days() {
        let variant = modern(90).rewrite(TABLE).expect("rewrites");
        assert!(
            variant.statement.ends_with("ORDER BY (site, kind)\nTTL timestamp + INTERVAL 90 DAY;\n"),
            "{}",
            variant.statement
        );
        let settings =
            TABLE.replace("ORDER BY (site, kind);", "ORDER BY (site, kind)\nSETTINGS index_granularity = 8192;");
        let variant = modern(7).rewrite(&settings).expect("rewrites");
        assert!(
            variant.statement.contains("TTL timestamp + INTERVAL 7 DAY\nSETTINGS index_granularity"),
            "{}",
            variant.statement
        );
        let other = TABLE.replace("page_visits", "stats_hourly");
        assert!(!modern(7).rewrite(&other).expect("rewrites").statement.contains("TTL"), "only the event tables");
    }

    #[test]
    fn a_kafka_table_streams_its_parse_errors_to_the_dead_letter_table_and_its_views_skip_them() {
        let mut rewriter = modern(0);
        rewriter.rewrite(TABLE).expect("table");
        let queue = rewriter.rewrite(QUEUE).expect("queue");
        assert!(
            queue.statement.ends_with("kafka_format = 'JSONEachRow',\n    kafka_handle_error_mode = 'stream';"),
            "{}",
            queue.statement
        );
        assert!(queue.after[0].starts_with("CREATE TABLE IF NOT EXISTS kafka_dead_letters"));
        assert!(queue.after[1].contains("FROM page_visits_queue\nWHERE length(_error) > 0"), "{}", queue.after[1]);

        let plain = rewriter
            .rewrite("CREATE MATERIALIZED VIEW IF NOT EXISTS v TO page_visits AS SELECT * FROM page_visits_queue;")
            .expect("view");
        assert_eq!(plain.statement, "CREATE MATERIALIZED VIEW IF NOT EXISTS v TO page_visits AS SELECT * FROM page_visits_queue WHERE length(_error) = 0;");
        let filtered = rewriter
            .rewrite("CREATE MATERIALIZED VIEW w TO t AS SELECT site FROM page_visits_queue WHERE a = 1 OR b = 2 GROUP BY site")
            .expect("view");
        assert_eq!(filtered.statement, "CREATE MATERIALIZED VIEW w TO t AS SELECT site FROM page_visits_queue WHERE length(_error) = 0 AND ( a = 1 OR b = 2) GROUP BY site");
        let direct = rewriter.rewrite("CREATE MATERIALIZED VIEW x TO t AS SELECT site FROM page_visits").expect("view");
        assert!(!direct.statement.contains("_error"), "a MergeTree source has no parse errors");

        let dropped = rewriter.rewrite("DROP TABLE IF EXISTS page_visits_queue;").expect("drop");
        assert_eq!(dropped.before, ["DROP TABLE IF EXISTS page_visits_queue_dead_letters_mv"]);
    }

    #[test]
    fn a_one_row_kafka_block_becomes_a_flush_interval_on_a_current_server() {
        let paced = "CREATE TABLE q AS page_visits\nENGINE = Kafka\nSETTINGS\n    kafka_format = 'JSONEachRow',\n    \
                     -- why\n    kafka_max_block_size = 1;";
        let mut legacy = Rewriter::new(Target::legacy());
        assert_eq!(legacy.rewrite(paced).expect("legacy").statement, paced, "18.16 keeps the file");

        let mut rewriter = modern(0);
        rewriter.rewrite(TABLE).expect("table");
        let queue = rewriter.rewrite(paced).expect("queue");
        assert!(!queue.statement.contains("kafka_max_block_size"), "{}", queue.statement);
        assert!(
            queue.statement.ends_with("kafka_flush_interval_ms = 500,\n    kafka_handle_error_mode = 'stream';"),
            "{}",
            queue.statement
        );

        let sized = paced.replace("kafka_max_block_size = 1", "kafka_max_block_size = 65536");
        let mut rewriter = modern(0);
        rewriter.rewrite(TABLE).expect("table");
        assert!(rewriter.rewrite(&sized).expect("queue").statement.contains("kafka_max_block_size = 65536"));
    }

    #[test]
    fn on_a_cluster_merge_trees_become_replicated_local_tables_read_through_distributed_ones() {
        let mut rewriter = cluster();
        let table = rewriter.rewrite(TABLE).expect("table");
        assert!(table.statement.contains("CREATE TABLE IF NOT EXISTS page_visits_local ON CLUSTER pathlight\n("));
        assert!(
            table.statement.contains(
                "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')\n"
            ),
            "{}",
            table.statement
        );
        assert_eq!(
            table.after,
            ["CREATE TABLE IF NOT EXISTS page_visits ON CLUSTER pathlight AS page_visits_local\n\
                                  ENGINE = Distributed(pathlight, pathlight, page_visits_local)"]
        );

        let queue = rewriter.rewrite(QUEUE).expect("queue");
        assert!(
            queue.statement.starts_with(
                "CREATE TABLE IF NOT EXISTS page_visits_queue ON CLUSTER pathlight AS page_visits_local\n"
            ),
            "{}",
            queue.statement
        );
        assert!(
            queue.after[0].starts_with("CREATE TABLE IF NOT EXISTS kafka_dead_letters_local ON CLUSTER pathlight"),
            "{:?}",
            queue.after
        );
        assert!(queue.after[1].starts_with(
            "CREATE TABLE IF NOT EXISTS kafka_dead_letters ON CLUSTER pathlight AS kafka_dead_letters_local"
        ));
        assert!(queue.after[2].contains("ON CLUSTER pathlight TO kafka_dead_letters_local"), "{}", queue.after[2]);

        let view = rewriter.rewrite("CREATE MATERIALIZED VIEW IF NOT EXISTS page_visits_mv TO page_visits\nAS SELECT * FROM page_visits_queue;").expect("view");
        assert_eq!(view.statement, "CREATE MATERIALIZED VIEW IF NOT EXISTS page_visits_mv ON CLUSTER pathlight TO page_visits_local\nAS SELECT * FROM page_visits_queue WHERE length(_error) = 0;");
        let rollup =
            rewriter.rewrite("CREATE MATERIALIZED VIEW r TO page_visits AS SELECT * FROM page_visits").expect("view");
        assert_eq!(
            rollup.statement,
            "CREATE MATERIALIZED VIEW r ON CLUSTER pathlight TO page_visits_local AS SELECT * FROM page_visits_local"
        );

        let aggregating = "CREATE TABLE s (x UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY x";
        assert!(rewriter.rewrite(aggregating).expect("table").statement.contains(
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)"
        ));
    }

    #[test]
    fn on_a_cluster_alters_and_drops_reach_both_tables_and_other_statements_are_refused() {
        let mut rewriter = cluster();
        rewriter.rewrite(TABLE).expect("table");
        let add = rewriter.rewrite("ALTER TABLE page_visits ADD COLUMN h UInt16 AFTER w;").expect("alter");
        assert_eq!(
            add.statement,
            "ALTER TABLE page_visits_local ON CLUSTER pathlight ADD COLUMN IF NOT EXISTS h UInt16 AFTER w;"
        );
        assert_eq!(
            add.after,
            ["ALTER TABLE page_visits ON CLUSTER pathlight ADD COLUMN IF NOT EXISTS h UInt16 AFTER w;"]
        );
        let delete = rewriter.rewrite("ALTER TABLE page_visits DELETE WHERE site = 'x'").expect("alter");
        assert!(delete.after.is_empty(), "a mutation is the local table's only");
        let drop = rewriter.rewrite("DROP TABLE IF EXISTS page_visits").expect("drop");
        assert_eq!(drop.statement, "DROP TABLE IF EXISTS page_visits ON CLUSTER pathlight");
        assert_eq!(drop.after, ["DROP TABLE IF EXISTS page_visits_local ON CLUSTER pathlight"]);
        assert!(matches!(rewriter.rewrite("INSERT INTO t SELECT 1"), Err(VariantError::ClusterUnsupported(_))));
        assert!(matches!(
            rewriter.rewrite("CREATE MATERIALIZED VIEW v ENGINE = Memory AS SELECT 1"),
            Err(VariantError::ClusterUnsupported(_))
        ));
    }

    #[test]
    fn unbalanced_text_is_refused_rather_than_rewritten() {
        for bad in ["CREATE TABLE t (x String", "CREATE TABLE t (x String) COMMENT 'x", "/* open"] {
            assert_eq!(modern(0).rewrite(bad), Err(VariantError::Malformed), "{bad}");
        }
    }
}
