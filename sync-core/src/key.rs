//! Natural keys: how a journal is recognised in Acumatica again, since neither API offers
//! idempotency keys.
//!
//! A [`NaturalKey`] has two halves, each the first 16 hex digits (64 bits) of a SHA-256:
//!
//! - the [`PartitionKey`], over the flow name and the journal's [`Partition`] (period, branch,
//!   `group_by` values): *which* journal this is;
//! - the [`ContentHash`], over the normalized content (ledger, currency, date and every line's
//!   account, subaccount, branch, project, task, cost code, reference, debit and credit at a
//!   fixed scale, and description; lines sorted, so row order does not matter): *what* it says.
//!
//! Written as `<partition>-<content>` (33 characters) and embedded in the journal as
//! `[mlc:<partition>-<content>]`.
//!
//! # Where the key is stored, and why
//!
//! In the **header `Description`** of the `JournalTransaction` (GL `Batch.Description`), at
//! the end: `"Overhead allocation 012025 HQ [mlc:3f2a…-9c41…]"`. Reasons:
//!
//! - It is a top-level field, so a list query can find it:
//!   `$filter=substringof(':<partition>-',Description)` (the bare `substringof` form; the
//!   `eq true` form silently returns nothing, reference FACTS §6). The contract API does not
//!   filter on detail lines ("results cannot be predicted", FACTS §6), which rules out
//!   line-level fields for lookup.
//! - It is long enough: `nvarchar(255)`/`(256)` in older releases and `nvarchar(512)` in
//!   2025 R2 (public DAC sources). [`embed_key`] keeps the whole text within
//!   [`DESCRIPTION_MAX`] = 255 UTF-16 units, the smallest of those, shortening the human part.
//! - The line `ReferenceNbr` (`GLTran.RefNbr`) holds only 15 characters — too short for a
//!   collision-safe key — and users often need it for their own references, so it is left to
//!   the mapping.
//! - It survives release and is visible to accountants, who can see which run posted a batch.
//!
//! Looking up by the partition half finds a journal whatever its content; comparing the content
//! half then tells "already posted" from "changed since it was posted"
//! ([`KeyMatch::ChangedContent`]), which the [`ChangedContentPolicy`] resolves — a changed
//! amount is never posted a second time. A journal that reverses a posted one carries
//! `[mlc-rev:<key>]` ([`embed_reversal_key`]), so lookups count the reversed posting as undone.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::mapping::{JournalDocument, JournalLine, Partition};

/// Hex digits kept of each SHA-256 (64 bits: collisions are negligible for the few thousand
/// journals a flow creates in a lifetime).
pub const HASH_HEX_DIGITS: usize = 16;

/// What opens the key tag in a description.
pub const TAG_OPEN: &str = "[mlc:";

/// What opens the tag of a reversing journal (see [`embed_reversal_key`]).
pub const REVERSAL_TAG_OPEN: &str = "[mlc-rev:";

/// What closes a tag.
pub const TAG_CLOSE: &str = "]";

/// Longest description [`embed_key`] produces, in UTF-16 code units (how `nvarchar` counts).
pub const DESCRIPTION_MAX: usize = 255;

/// How many partition keys to put in one lookup query ([`lookup_filter`]); keeps the URL well
/// under common length limits.
pub const LOOKUP_PAGE_SIZE: usize = 20;

const PARTITION_DOMAIN: &str = "mlc-partition-v1";
const CONTENT_DOMAIN: &str = "mlc-content-v1";

fn short_hash(domain: &str, payload: &str) -> String {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    h.update(b"\n");
    h.update(payload.as_bytes());
    let digest = hex::encode(h.finalize());
    digest[..HASH_HEX_DIGITS].to_owned()
}

fn is_short_hex(s: &str) -> bool {
    s.len() == HASH_HEX_DIGITS && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Which journal of a flow a key names: a hash of the flow's key namespace (its name unless the
/// mapping sets `key_namespace`) and the partition.
///
/// ```
/// use sync_core::key::PartitionKey;
/// use sync_core::mapping::Partition;
/// let p = Partition::new([("period", "012025"), ("branch", "HQ")]);
/// let a = PartitionKey::new("overhead_allocation", &p);
/// assert_eq!(a, PartitionKey::new("overhead_allocation", &p));
/// assert_ne!(a, PartitionKey::new("other_flow", &p));
/// assert_eq!(a.as_str().len(), 16);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartitionKey(String);

impl PartitionKey {
    /// The key of a partition in a key namespace (a flow's name, or its `key_namespace`).
    pub fn new(flow: &str, partition: &Partition) -> Self {
        // JSON arrays make the encoding unambiguous (no separator can be forged by a value).
        let payload = serde_json::json!([flow, partition.entries()]).to_string();
        Self(short_hash(PARTITION_DOMAIN, &payload))
    }

    /// The 16 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text every description tagged with this partition contains (`:<partition>-`, the
    /// common part of the posting tag `[mlc:…]` and the reversal tag `[mlc-rev:…]`), for a
    /// substring search.
    pub fn description_needle(&self) -> String {
        format!(":{}-", self.0)
    }
}

/// A hash of a journal's normalized content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentHash(String);

impl ContentHash {
    /// The content hash of a journal (the header description and hold flag are not content;
    /// line order does not matter).
    pub fn of_document(doc: &JournalDocument) -> Self {
        let header = serde_json::json!([
            doc.ledger,
            doc.currency,
            doc.period.to_string(),
            doc.transaction_date.map(|d| d.to_string()),
        ])
        .to_string();
        let mut lines: Vec<String> = doc.lines.iter().map(line_repr).collect();
        lines.sort_unstable();
        let mut payload = header;
        for l in lines {
            payload.push('\n');
            payload.push_str(&l);
        }
        Self(short_hash(CONTENT_DOMAIN, &payload))
    }

    /// The 16 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount at a fixed minimum scale of 2 (`10.5` and `10.500` both give `10.50`; extra
/// significant places are kept), so equal amounts hash equally.
pub fn normalized_amount(d: Decimal) -> String {
    let mut n = d.normalize();
    if n.scale() < 2 {
        n.rescale(2);
    }
    n.to_string()
}

fn line_repr(l: &JournalLine) -> String {
    serde_json::json!([
        l.account,
        l.subaccount,
        l.branch,
        l.project,
        l.task,
        l.cost_code,
        l.reference_nbr,
        normalized_amount(l.debit),
        normalized_amount(l.credit),
        l.description,
    ])
    .to_string()
}

/// A journal's natural key: partition key and content hash.
///
/// ```
/// use sync_core::key::NaturalKey;
/// let k: NaturalKey = "0123456789abcdef-fedcba9876543210".parse().unwrap();
/// assert_eq!(k.partition().as_str(), "0123456789abcdef");
/// assert_eq!(k.to_string(), "0123456789abcdef-fedcba9876543210");
/// assert_eq!(k.tag(), "[mlc:0123456789abcdef-fedcba9876543210]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NaturalKey {
    partition: PartitionKey,
    content: ContentHash,
}

impl NaturalKey {
    /// The key of a mapped journal.
    pub fn for_document(doc: &JournalDocument) -> Self {
        Self {
            partition: PartitionKey::new(&doc.flow, &doc.partition),
            content: ContentHash::of_document(doc),
        }
    }

    /// A key from its halves.
    pub fn from_parts(partition: PartitionKey, content: ContentHash) -> Self {
        Self { partition, content }
    }

    /// Which journal.
    pub fn partition(&self) -> &PartitionKey {
        &self.partition
    }

    /// What it says.
    pub fn content(&self) -> &ContentHash {
        &self.content
    }

    /// The tag embedded in descriptions: `[mlc:<partition>-<content>]`.
    pub fn tag(&self) -> String {
        format!("{TAG_OPEN}{self}{TAG_CLOSE}")
    }
}

impl fmt::Display for NaturalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.partition.0, self.content.0)
    }
}

/// Text that is not a natural key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a natural key (expected 16 lowercase hex digits, `-`, 16 lowercase hex digits)"
)]
pub struct KeyParseError(String);

impl FromStr for NaturalKey {
    type Err = KeyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || KeyParseError(s.to_owned());
        let (p, c) = s.split_once('-').ok_or_else(err)?;
        if !is_short_hex(p) || !is_short_hex(c) {
            return Err(err());
        }
        Ok(Self {
            partition: PartitionKey(p.to_owned()),
            content: ContentHash(c.to_owned()),
        })
    }
}

macro_rules! hex_string_conversions {
    ($t:ident) => {
        impl TryFrom<String> for $t {
            type Error = KeyParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                if is_short_hex(&s) {
                    Ok(Self(s))
                } else {
                    Err(KeyParseError(s))
                }
            }
        }
        impl From<$t> for String {
            fn from(k: $t) -> String {
                k.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
hex_string_conversions!(PartitionKey);
hex_string_conversions!(ContentHash);

impl TryFrom<String> for NaturalKey {
    type Error = KeyParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<NaturalKey> for String {
    fn from(k: NaturalKey) -> String {
        k.to_string()
    }
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// A tag found in a description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    /// `[mlc:…]`: this journal posts the key's content.
    Posting,
    /// `[mlc-rev:…]`: this journal reverses a journal that posted the key's content.
    Reversal,
}

/// Finds well-formed tags of both kinds, in order: (byte start, byte end, kind, key).
fn tags(description: &str) -> Vec<(usize, usize, TagKind, NaturalKey)> {
    let body_len = 2 * HASH_HEX_DIGITS + 1;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = description[from..].find("[mlc") {
        let start = from + i;
        let rest = &description[start..];
        let (kind, open) = if rest.starts_with(TAG_OPEN) {
            (TagKind::Posting, TAG_OPEN)
        } else if rest.starts_with(REVERSAL_TAG_OPEN) {
            (TagKind::Reversal, REVERSAL_TAG_OPEN)
        } else {
            from = start + 1;
            continue;
        };
        let body_start = start + open.len();
        let parsed = description
            .get(body_start..body_start + body_len)
            .filter(|_| description[body_start + body_len..].starts_with(TAG_CLOSE))
            .and_then(|body| body.parse::<NaturalKey>().ok());
        match parsed {
            Some(key) => {
                let end = body_start + body_len + TAG_CLOSE.len();
                out.push((start, end, kind, key));
                from = end;
            }
            None => from = body_start,
        }
    }
    out
}

/// The human part of a description: every well-formed tag (`[mlc:…]`, `[mlc-rev:…]`)
/// removed, whitespace collapsed.
///
/// ```
/// use sync_core::key::strip_tags_text;
/// assert_eq!(strip_tags_text("Overhead  HQ [mlc:0123456789abcdef-fedcba9876543210]"), "Overhead HQ");
/// ```
pub fn strip_tags_text(description: &str) -> String {
    strip_tags(description)
}

/// The description without any tags, whitespace collapsed.
fn strip_tags(description: &str) -> String {
    let mut human = String::with_capacity(description.len());
    let mut last = 0;
    for (start, end, _, _) in tags(description) {
        human.push_str(&description[last..start]);
        last = end;
    }
    human.push_str(&description[last..]);
    human.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `human` plus a tag, the human part shortened (ending in `…`) to fit [`DESCRIPTION_MAX`].
fn with_tag(human: &str, tag: &str) -> String {
    if human.is_empty() {
        return tag.to_owned();
    }
    let budget = DESCRIPTION_MAX - utf16_len(tag) - 1; // one space before the tag
    if utf16_len(human) <= budget {
        return format!("{human} {tag}");
    }
    let ellipsis = '…';
    let mut kept = String::new();
    let mut used = ellipsis.len_utf16();
    for c in human.chars() {
        if used + c.len_utf16() > budget {
            break;
        }
        used += c.len_utf16();
        kept.push(c);
    }
    format!("{}{ellipsis} {tag}", kept.trim_end())
}

/// Appends the key's tag to a human description, so the journal can be found again.
///
/// Any tag already in the text is removed first (embedding is idempotent), surrounding
/// whitespace is trimmed, and when the result would exceed [`DESCRIPTION_MAX`] UTF-16 units the
/// human part is shortened and ends with `…`: the key is never cut.
///
/// ```
/// use sync_core::key::{embed_key, extract_key, NaturalKey, DESCRIPTION_MAX};
/// let key: NaturalKey = "0123456789abcdef-fedcba9876543210".parse().unwrap();
/// let d = embed_key("Overhead allocation 012025 HQ", &key);
/// assert_eq!(d, "Overhead allocation 012025 HQ [mlc:0123456789abcdef-fedcba9876543210]");
/// assert_eq!(extract_key(&d), Some(key.clone()));
/// assert_eq!(embed_key(&d, &key), d);
/// let long = embed_key(&"x".repeat(400), &key);
/// assert_eq!(long.encode_utf16().count(), DESCRIPTION_MAX);
/// assert!(long.ends_with(&key.tag()));
/// ```
pub fn embed_key(description: &str, key: &NaturalKey) -> String {
    with_tag(&strip_tags(description), &key.tag())
}

/// Tags the description of a journal that **reverses** a posted one (the
/// [`ChangedContentPolicy::ReverseAndRepost`] path): `[mlc-rev:<partition>-<content>]`, with
/// the reversed journal's key. The flow writes reversals with [`ReversalKey::description`],
/// which uses this. [`match_existing`] then counts the original as undone, so the
/// same content can be posted again later if the source returns to it, and
/// [`extract_key`] never mistakes the reversal for a posting (Acumatica copies the original's
/// description onto a reversing batch, so the flow must re-tag it before releasing it).
///
/// ```
/// use sync_core::key::{embed_key, embed_reversal_key, extract_key, NaturalKey};
/// let key: NaturalKey = "0123456789abcdef-fedcba9876543210".parse().unwrap();
/// let original = embed_key("Overhead 012025 HQ", &key);
/// let reversal = embed_reversal_key(&original, &key);
/// assert_eq!(reversal, "Overhead 012025 HQ [mlc-rev:0123456789abcdef-fedcba9876543210]");
/// assert_eq!(extract_key(&reversal), None);
/// ```
pub fn embed_reversal_key(description: &str, reversed: &NaturalKey) -> String {
    let tag = format!("{REVERSAL_TAG_OPEN}{reversed}{TAG_CLOSE}");
    with_tag(&strip_tags(description), &tag)
}

/// The ledger key of one reversal: which posting (its natural key) and which of its batches
/// is reversed. Written `<partition>-<content>:rev:<batch>`.
///
/// The reversing journal itself is tagged `[mlc-rev:<partition>-<content>]` in the
/// **original** partition ([`ReversalKey::tag`]), so a lookup of the partition counts it
/// against the posting it reverses ([`match_existing`]); its description starts with
/// [`ReversalKey::marker`] (`Reversal of batch <batch>:`), which tells reversals of two batches
/// of the same content apart ([`find_reversal`]). Reversing the same content twice (figures
/// going A → B → A → B) gives two keys, so each reversal is made exactly once.
///
/// ```
/// use sync_core::key::{NaturalKey, ReversalKey};
/// let posted: NaturalKey = "0123456789abcdef-fedcba9876543210".parse().unwrap();
/// let r = ReversalKey::new(posted.clone(), "000042");
/// assert_eq!(r.to_string(), "0123456789abcdef-fedcba9876543210:rev:000042");
/// assert_eq!(r.to_string().parse::<ReversalKey>().unwrap(), r);
/// assert_eq!(r.tag(), "[mlc-rev:0123456789abcdef-fedcba9876543210]");
/// assert_eq!(r.marker(), "Reversal of batch 000042:");
/// assert!("0123456789abcdef-fedcba9876543210".parse::<ReversalKey>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReversalKey {
    reversed: NaturalKey,
    batch: String,
}

/// What separates the reversed key from the batch in a [`ReversalKey`].
const REVERSAL_KEY_SEPARATOR: &str = ":rev:";

impl ReversalKey {
    /// The reversal of batch `batch`, which posted `reversed`.
    pub fn new(reversed: NaturalKey, batch: impl Into<String>) -> Self {
        Self {
            reversed,
            batch: batch.into(),
        }
    }

    /// The key of the reversed posting.
    pub fn reversed(&self) -> &NaturalKey {
        &self.reversed
    }

    /// The reversed batch.
    pub fn batch(&self) -> &str {
        &self.batch
    }

    /// The tag of the reversing journal: `[mlc-rev:<reversed key>]`.
    pub fn tag(&self) -> String {
        format!("{REVERSAL_TAG_OPEN}{}{TAG_CLOSE}", self.reversed)
    }

    /// How the reversing journal's description starts: `Reversal of batch <batch>:`.
    pub fn marker(&self) -> String {
        format!("Reversal of batch {}:", self.batch)
    }

    /// The reversing journal's whole description: the marker, the reversed journal's human
    /// text (its tag removed) and the reversal tag, within [`DESCRIPTION_MAX`].
    ///
    /// ```
    /// use sync_core::key::{NaturalKey, ReversalKey, embed_key, find_reversal};
    /// let posted: NaturalKey = "0123456789abcdef-fedcba9876543210".parse().unwrap();
    /// let r = ReversalKey::new(posted.clone(), "000042");
    /// let d = r.description(&embed_key("Overhead 012025 HQ", &posted));
    /// assert_eq!(d, "Reversal of batch 000042: Overhead 012025 HQ [mlc-rev:0123456789abcdef-fedcba9876543210]");
    /// assert_eq!(find_reversal(&r, [(d.as_str(), 7)]), Some(7));
    /// assert_eq!(r.description(&d), d);
    /// let other = ReversalKey::new(posted, "000420");
    /// assert_eq!(find_reversal(&other, [(d.as_str(), 7)]), None);
    /// ```
    pub fn description(&self, reversed_description: &str) -> String {
        let human = strip_tags(reversed_description);
        let marker = self.marker();
        if human.starts_with(&marker) {
            return with_tag(&human, &self.tag());
        }
        with_tag(&strip_tags(&format!("{marker} {human}")), &self.tag())
    }
}

impl fmt::Display for ReversalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{REVERSAL_KEY_SEPARATOR}{}", self.reversed, self.batch)
    }
}

impl FromStr for ReversalKey {
    type Err = KeyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || KeyParseError(s.to_owned());
        let (key, batch) = s.split_once(REVERSAL_KEY_SEPARATOR).ok_or_else(err)?;
        if batch.trim().is_empty() || batch.chars().any(char::is_control) {
            return Err(err());
        }
        Ok(Self {
            reversed: key.parse().map_err(|_| err())?,
            batch: batch.to_owned(),
        })
    }
}

/// Finds the journal that made one reversal: tagged as a reversal of `key`'s posting and
/// described as reversing `key`'s batch ([`ReversalKey::marker`]). Used to settle a reversal
/// whose outcome was lost, without reversing twice.
pub fn find_reversal<'a, T>(
    key: &ReversalKey,
    existing: impl IntoIterator<Item = (&'a str, T)>,
) -> Option<T> {
    let marker = key.marker();
    existing
        .into_iter()
        .find_map(|(description, item)| match tags(description).pop() {
            Some((_, _, TagKind::Reversal, k))
                if k == key.reversed && strip_tags(description).starts_with(&marker) =>
            {
                Some(item)
            }
            _ => None,
        })
}

/// The natural key a journal posts: the last well-formed tag of its description, when that is
/// a posting tag (a reversing journal's tag gives `None`).
///
/// ```
/// use sync_core::key::extract_key;
/// assert!(extract_key("Manual entry by Jane").is_none());
/// assert!(extract_key("[mlc:not-a-key]").is_none());
/// ```
pub fn extract_key(description: &str) -> Option<NaturalKey> {
    match tags(description).pop() {
        Some((_, _, TagKind::Posting, key)) => Some(key),
        _ => None,
    }
}

/// The partition named by a description's last well-formed tag, posting or reversal: which
/// partition of which key namespace a journal of this connector belongs to.
///
/// ```
/// use sync_core::key::{NaturalKey, embed_reversal_key, tagged_partition};
/// let key: NaturalKey = "0123456789abcdef-fedcba9876543210".parse().unwrap();
/// let reversal = embed_reversal_key("Reversal of batch 000042: x", &key);
/// assert_eq!(tagged_partition(&reversal).as_ref(), Some(key.partition()));
/// assert_eq!(tagged_partition("Manual entry"), None);
/// ```
pub fn tagged_partition(description: &str) -> Option<PartitionKey> {
    tags(description).pop().map(|(_, _, _, k)| k.partition)
}

/// An OData `$filter` that finds every journal whose description carries one of these
/// partitions (at most [`LOOKUP_PAGE_SIZE`] per query is advisable), for a single list query
/// per page of keys: `substringof(':<p1>-',Description) or substringof(':<p2>-',Description)`
/// (the needle matches posting and reversal tags alike).
///
/// The flow sends it URL-encoded, with `$select` of at least `BatchNbr`, `Module` and
/// `Description`, and passes the found descriptions to [`match_existing`].
///
/// ```
/// use sync_core::key::{lookup_filter, PartitionKey};
/// let p = PartitionKey::try_from("0123456789abcdef".to_string()).unwrap();
/// assert_eq!(lookup_filter([&p]), "substringof(':0123456789abcdef-',Description)");
/// ```
pub fn lookup_filter<'a>(partitions: impl IntoIterator<Item = &'a PartitionKey>) -> String {
    partitions
        .into_iter()
        .map(|p| format!("substringof('{}',Description)", p.description_needle()))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// What Acumatica already holds for a journal's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMatch<T> {
    /// Nothing for this partition: create the journal.
    Absent,
    /// A journal with this exact key exists: do not create it again.
    Posted(T),
    /// Journals exist for this partition but with other content: the source changed after
    /// posting. Never post again blindly; the [`ChangedContentPolicy`] decides.
    ChangedContent {
        /// The existing journals and their content hashes.
        posted: Vec<(ContentHash, T)>,
    },
}

/// Compares a key with the journals a lookup found.
///
/// `existing` yields each found journal's description with whatever the flow wants back (e.g.
/// its batch number). Journals without a tag or of other partitions are ignored. A reversing
/// journal (tagged by [`embed_reversal_key`]) cancels one posting of the content it reverses,
/// so only postings still in effect count.
///
/// ```
/// use sync_core::key::{embed_key, embed_reversal_key, match_existing, KeyMatch, NaturalKey};
/// let key: NaturalKey = "0123456789abcdef-fedcba9876543210".parse().unwrap();
/// let old: NaturalKey = "0123456789abcdef-00000000000000aa".parse().unwrap();
/// let found = vec![(embed_key("x", &old), "000041")];
/// let m = match_existing(&key, found.iter().map(|(d, n)| (d.as_str(), *n)));
/// assert_eq!(m, KeyMatch::ChangedContent { posted: vec![(old.content().clone(), "000041")] });
///
/// // After the old journal is reversed, nothing of this partition is in effect any more.
/// let mut found = found;
/// found.push((embed_reversal_key("x", &old), "000042"));
/// let m = match_existing(&key, found.iter().map(|(d, n)| (d.as_str(), *n)));
/// assert_eq!(m, KeyMatch::Absent);
/// ```
pub fn match_existing<'a, T>(
    key: &NaturalKey,
    existing: impl IntoIterator<Item = (&'a str, T)>,
) -> KeyMatch<T> {
    let mut posted: Vec<(ContentHash, T)> = Vec::new();
    let mut reversed: Vec<ContentHash> = Vec::new();
    for (description, item) in existing {
        let Some((_, _, kind, found)) = tags(description).pop() else {
            continue;
        };
        if found.partition != key.partition {
            continue;
        }
        match kind {
            TagKind::Posting => posted.push((found.content, item)),
            TagKind::Reversal => reversed.push(found.content),
        }
    }
    // Each reversal cancels one posting of the same content (the earliest found).
    for content in reversed {
        if let Some(i) = posted.iter().position(|(c, _)| *c == content) {
            posted.remove(i);
        }
    }
    if let Some(i) = posted.iter().position(|(c, _)| *c == key.content) {
        return KeyMatch::Posted(posted.swap_remove(i).1);
    }
    if posted.is_empty() {
        KeyMatch::Absent
    } else {
        KeyMatch::ChangedContent { posted }
    }
}

/// What to do when a journal's partition was already posted with other content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangedContentPolicy {
    /// Report it and stop the flow's run (default): an accountant decides. Nothing of the run
    /// is posted.
    #[default]
    Fail,
    /// Report it and leave the posted journal as it is. The skip is recorded in the ledger and
    /// stands while this policy is in force; a later run under another policy decides again
    /// (the skip does not stop it).
    Skip,
    /// Reverse the posted journal (a journal tagged `[mlc-rev:<its key>]`, see [`ReversalKey`]),
    /// then post the new content under its new key. When the figures return to an earlier
    /// content, that content is posted again (the earlier posting of it was reversed).
    ReverseAndRepost,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str, c: &str) -> NaturalKey {
        format!("{p}-{c}").parse().unwrap()
    }

    #[test]
    fn parse_rejects_malformed_keys() {
        for bad in [
            "",
            "0123456789abcdef",
            "0123456789abcdef-",
            "0123456789ABCDEF-fedcba9876543210",
            "0123456789abcde-fedcba9876543210",
            "0123456789abcdef-fedcba98765432100",
            "0123456789abcdeg-fedcba9876543210",
        ] {
            assert!(bad.parse::<NaturalKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn extract_takes_the_last_well_formed_tag() {
        let a = key("0123456789abcdef", "fedcba9876543210");
        let b = key("1111111111111111", "2222222222222222");
        let text = format!("{} [mlc:broken] {} tail", a.tag(), b.tag());
        assert_eq!(extract_key(&text), Some(b.clone()));
        let embedded = embed_key(&text, &a);
        assert_eq!(embedded, format!("[mlc:broken] tail {}", a.tag()));
        assert_eq!(embed_key("   ", &a), a.tag());
    }

    #[test]
    fn truncation_counts_utf16_units() {
        let a = key("0123456789abcdef", "fedcba9876543210");
        let d = embed_key(&"😀".repeat(200), &a);
        assert!(d.encode_utf16().count() <= DESCRIPTION_MAX);
        assert!(d.ends_with(&format!("… {}", a.tag())));
        assert_eq!(extract_key(&d), Some(a));
    }

    #[test]
    fn normalized_amounts() {
        assert_eq!(normalized_amount(Decimal::new(105, 1)), "10.50");
        assert_eq!(normalized_amount(Decimal::new(10500, 3)), "10.50");
        assert_eq!(normalized_amount(Decimal::new(10505, 3)), "10.505");
        assert_eq!(normalized_amount(Decimal::new(0, 4)), "0.00");
    }
}
