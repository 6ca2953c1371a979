//! Server-assigned keys: an insert Acumatica saved under a key of its own (a numbering sequence
//! covers the entity, so a PUT asking for `123` created `C1165`), noticed from the `PUT`'s
//! answer and then mapped or refused as [`ServerKeys`] says; and inserts whose answer was lost,
//! remembered so a rerun does not create a second copy on such a site.

use std::collections::HashMap;

use acumatica_client::{Filter, ListQuery};
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::{Reader, ReferenceFlow, RunState, ServerKeys};
use crate::error::{Error, Result};
use crate::mapping::ReferenceRecord;
use crate::store::{AuditStage, KeyMapping, KeyState, NewKeyMapping, StateStore};

/// The key map entries of one flow and entity, by lower-cased source key.
#[derive(Debug, Default, Clone)]
pub(super) struct KeyBook {
    entries: HashMap<String, KeyMapping>,
}

/// Acumatica compares keys case-insensitively and a key's input mask may upper-case it, so
/// `v1` saved as `V1` is the same key.
pub(super) fn same_key(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn fold(key: &str) -> String {
    key.trim().to_lowercase()
}

/// The key a `PUT`'s answer says the record was saved under (`{"VendorID": {"value": "C1165"}}`).
pub(super) fn saved_key(answer: &Value, key_field: &str) -> Option<String> {
    let v = answer.get(key_field)?;
    let v = v.get("value").unwrap_or(v);
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl KeyBook {
    /// The entries of `flow` for `entity`.
    pub(super) async fn load(store: &dyn StateStore, flow: &str, entity: &str) -> Result<Self> {
        let entries = store
            .key_mappings(flow)
            .await?
            .into_iter()
            .filter(|m| m.entity == entity)
            .map(|m| (fold(&m.source_key), m))
            .collect();
        Ok(Self { entries })
    }

    /// The entry of a source key.
    pub(super) fn get(&self, key: &str) -> Option<&KeyMapping> {
        self.entries.get(&fold(key))
    }

    /// The key Acumatica keeps the record of `key` under, when the map says it differs.
    pub(super) fn saved(&self, key: &str) -> Option<&str> {
        self.get(key)
            .filter(|m| m.state == KeyState::Mapped)
            .and_then(|m| m.saved_key.as_deref())
    }

    /// Entries in a state, by source key.
    pub(super) fn in_state(&self, state: KeyState) -> Vec<KeyMapping> {
        let mut out: Vec<KeyMapping> = self
            .entries
            .values()
            .filter(|m| m.state == state)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.source_key.cmp(&b.source_key));
        out
    }

    pub(super) fn set(&mut self, mapping: KeyMapping) {
        self.entries.insert(fold(&mapping.source_key), mapping);
    }

    pub(super) fn remove(&mut self, key: &str) {
        self.entries.remove(&fold(key));
    }

    /// For a plan under `map`: entries a run would adopt (`refused` ones) count as mapped.
    pub(super) fn adopting_refused(mut self) -> Self {
        for m in self.entries.values_mut() {
            if m.state == KeyState::Refused {
                m.state = KeyState::Mapped;
            }
        }
        self
    }

    /// `record` as Acumatica knows it: its key replaced by the saved key when mapped.
    pub(super) fn target(&self, record: &ReferenceRecord) -> ReferenceRecord {
        match self.saved(&record.key) {
            Some(saved) => ReferenceRecord {
                key: saved.to_owned(),
                ..record.clone()
            },
            None => record.clone(),
        }
    }
}

/// The error of a flow that refuses server-assigned keys: what happened, to which records, and
/// what to do.
pub(super) fn refusal(flow: &str, entity: &str, key_field: &str, refused: &[KeyMapping]) -> Error {
    let list: Vec<String> = refused
        .iter()
        .map(|m| {
            format!(
                "{key_field} `{}` was saved as `{}`",
                m.source_key,
                m.saved_key.as_deref().unwrap_or("?")
            )
        })
        .collect();
    let what = format!(
        "flow `{flow}`: Acumatica saved {} new {entity} record(s) under a key of its own ({}); this site numbers {entity} keys itself (a numbering sequence covers them), so a rerun would not find them by the source key and would create them again. Nothing more was written",
        refused.len(),
        list.join("; ")
    );
    let detail = format!(
        "the created record(s) are in the audit trail and Acumatica. Either turn off the numbering sequence for {entity} in Acumatica and give the record(s) the source key (or delete them), and the next run goes on; or set `server_keys = \"map\"` on the flow to keep the source key -> Acumatica key mapping and update those records from now on"
    );
    // Not bad data and not a bad config: the run failed (exit 1 in the command).
    Error::Other {
        context: what,
        source: detail.into(),
        retryable: false,
    }
}

/// Checks [`source_key_field`](super::ReferenceOptions::source_key_field) against the mapping:
/// it must be neither the key nor a field the mapping sets.
pub(super) fn check_source_key_field(
    options: &super::ReferenceOptions,
    mapping: &crate::mapping::ReferenceMapping,
) -> Result<()> {
    let Some(field) = options.source_key_field.as_deref() else {
        return Ok(());
    };
    if field == mapping.key.field || mapping.fields.contains_key(field) {
        return Err(Error::config(
            "reference.source_key_field",
            format!(
                "`{field}` is the key or a field the mapping of flow `{}` sets; name a field only the flow fills (e.g. AccountRef)",
                mapping.flow
            ),
        ));
    }
    Ok(())
}

impl Reader<'_> {
    /// Records of the entity whose `field` equals `value` (the key and mapped fields, flat).
    pub(super) async fn find_by_field(
        &self,
        field: &str,
        value: &str,
    ) -> Result<Vec<serde_json::Map<String, Value>>> {
        let key_field = &self.mapping.key.field;
        let paths: Vec<String> = std::iter::once(key_field.clone())
            .chain(self.mapping.fields.keys().cloned())
            .collect();
        let mut query = ListQuery::new()
            .filter(Filter::eq(field, value))
            .page_size(3);
        let linked = super::wire::linked(&paths);
        if !linked.is_empty() {
            query = query.expand(linked);
        }
        let mut out = Vec::new();
        let mut pages = self.acumatica.list_json_pages(&self.mapping.entity, query);
        if let Some(page) = pages.try_next().await? {
            for item in page.records {
                if let Some(obj) = item.as_object() {
                    out.push(super::wire::flatten(obj, &paths));
                }
            }
        }
        Ok(out)
    }

    /// Which of `keys` exist in Acumatica (lower-cased).
    pub(super) async fn existing(&self, keys: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(self.options.lookup_page_size) {
            let probe: Vec<ReferenceRecord> = chunk
                .iter()
                .map(|k| ReferenceRecord {
                    row: 0,
                    entity: self.mapping.entity.clone(),
                    key_field: self.mapping.key.field.clone(),
                    key: k.clone(),
                    fields: Default::default(),
                })
                .collect();
            let (found, _) = self.lookup(&probe).await?;
            out.extend(found.keys().map(|k| fold(k)));
        }
        Ok(out)
    }
}

impl ReferenceFlow {
    fn key_field(&self) -> &str {
        &self.mapping.key.field
    }

    /// Before anything is written: entries left `refused` by an earlier run are adopted as
    /// mappings (`map`), or checked (`refuse`): one whose record now has the requested key, or
    /// whose saved record is gone, is settled and dropped; any other stops the run here.
    pub(super) async fn settle_refusals(
        &self,
        state: &mut RunState,
        book: &mut KeyBook,
    ) -> Result<()> {
        let refused = book.in_state(KeyState::Refused);
        if refused.is_empty() {
            return Ok(());
        }
        let store = self.store.as_ref();
        let entity = &self.mapping.entity;
        if self.options.server_keys == ServerKeys::Map {
            for m in refused {
                let saved = m.saved_key.clone().unwrap_or_default();
                let lease = state.keeper.fresh().await?;
                let mapped = store
                    .put_key_mapping(
                        &lease,
                        &NewKeyMapping::mapped(
                            entity,
                            &m.source_key,
                            &saved,
                            Some(state.run_id.clone()),
                        ),
                    )
                    .await?;
                state
                    .audit(
                        store,
                        Some(&self.natural_key(&m.source_key)),
                        AuditStage::Mapped,
                        "key_mapped",
                        json!({"requested_key": m.source_key, "saved_key": saved, "was": "refused", "server_keys": "map"}),
                    )
                    .await?;
                book.set(mapped);
            }
            return Ok(());
        }
        let reader = self.reader();
        let mut probe: Vec<String> = refused.iter().map(|m| m.source_key.clone()).collect();
        probe.extend(refused.iter().filter_map(|m| m.saved_key.clone()));
        let existing = reader.existing(&probe).await?;
        let mut still = Vec::new();
        for m in refused {
            let saved = m.saved_key.clone().unwrap_or_default();
            let why = if existing.contains(&fold(&m.source_key)) {
                Some("a record now has the requested key")
            } else if !existing.contains(&fold(&saved)) {
                Some("the record saved under the other key no longer exists")
            } else {
                None
            };
            let Some(why) = why else {
                still.push(m);
                continue;
            };
            let lease = state.keeper.fresh().await?;
            store
                .forget_key_mapping(&lease, entity, &m.source_key)
                .await?;
            state
                .audit(
                    store,
                    Some(&self.natural_key(&m.source_key)),
                    AuditStage::Mapped,
                    "key_refusal_settled",
                    json!({"requested_key": m.source_key, "saved_key": saved, "reason": why}),
                )
                .await?;
            book.remove(&m.source_key);
        }
        if still.is_empty() {
            return Ok(());
        }
        let error = refusal(&self.mapping.flow, entity, self.key_field(), &still);
        state
            .audit(
                store,
                None,
                AuditStage::Failed,
                "server_keys_refused",
                json!({"refused": still.iter().map(|m| json!({"requested_key": m.source_key, "saved_key": m.saved_key})).collect::<Vec<_>>(), "written": 0}),
            )
            .await?;
        Err(error)
    }

    /// Before an insert under `map`: remember that it is being sent, so a lost answer is not
    /// taken for "never created" by the next run.
    pub(super) async fn mark_inserting(
        &self,
        state: &mut RunState,
        book: &mut KeyBook,
        key: &str,
    ) -> Result<()> {
        if self.options.server_keys != ServerKeys::Map {
            return Ok(());
        }
        let lease = state.keeper.fresh().await?;
        let m = self
            .store
            .put_key_mapping(
                &lease,
                &NewKeyMapping::inserting(&self.mapping.entity, key, Some(state.run_id.clone())),
            )
            .await?;
        book.set(m);
        Ok(())
    }

    /// After an insert that definitely did not create anything (refused by Acumatica): the
    /// `inserting` entry goes.
    pub(super) async fn unmark_inserting(
        &self,
        state: &mut RunState,
        book: &mut KeyBook,
        key: &str,
    ) -> Result<()> {
        if book.get(key).is_none_or(|m| m.state != KeyState::Inserting) {
            return Ok(());
        }
        let lease = state.keeper.fresh().await?;
        self.store
            .forget_key_mapping(&lease, &self.mapping.entity, key)
            .await?;
        book.remove(key);
        Ok(())
    }

    /// After a successful insert of `key`: the key Acumatica saved (from its answer), and what
    /// follows. Returns the saved key when it differs; under `refuse` the caller stops the run
    /// with [`refusal`] after recording the record.
    pub(super) async fn inserted(
        &self,
        state: &mut RunState,
        book: &mut KeyBook,
        key: &str,
        answer: &Value,
    ) -> Result<Option<String>> {
        let saved = saved_key(answer, self.key_field());
        let entity = &self.mapping.entity;
        let lease = state.keeper.fresh().await?;
        match saved {
            Some(saved) if !same_key(&saved, key) => {
                let entry = match self.options.server_keys {
                    ServerKeys::Map => {
                        NewKeyMapping::mapped(entity, key, &saved, Some(state.run_id.clone()))
                    }
                    ServerKeys::Refuse => {
                        NewKeyMapping::refused(entity, key, &saved, Some(state.run_id.clone()))
                    }
                };
                let m = self.store.put_key_mapping(&lease, &entry).await?;
                tracing::warn!(flow = %self.mapping.flow, entity = %entity, requested = key, saved = %saved, mode = self.options.server_keys.as_str(), "Acumatica saved the record under a key of its own");
                book.set(m);
                Ok(Some(saved))
            }
            _ => {
                // The key was kept (or the answer did not say): nothing to remember.
                if book.get(key).is_some() {
                    self.store.forget_key_mapping(&lease, entity, key).await?;
                    book.remove(key);
                }
                Ok(None)
            }
        }
    }

    /// A record whose earlier insert got no answer (`inserting`) and that the lookup did not
    /// find by its key: found again by [`source_key_field`](super::ReferenceOptions::source_key_field)
    /// (adopted as a mapping), or — without that field, or with several matches — not inserted
    /// again: the error to report. `Ok(None)`: nothing is known of it, insert it again.
    pub(super) async fn recover_lost_insert(
        &self,
        state: &mut RunState,
        book: &mut KeyBook,
        record: &ReferenceRecord,
    ) -> Result<std::result::Result<Option<String>, String>> {
        let Some(entry) = book.get(&record.key).cloned() else {
            return Ok(Ok(None));
        };
        if entry.state != KeyState::Inserting {
            return Ok(Ok(None));
        }
        let entity = &self.mapping.entity;
        let since = entry.updated_at.to_rfc3339();
        let Some(field) = self.options.source_key_field.as_deref() else {
            return Ok(Err(format!(
                "an earlier insert of {entity} `{}` (run {}, {since}) got no answer, and this flow maps server-assigned keys, so it may exist under a key Acumatica chose; it is not inserted again, to make no second copy. Look for it in Acumatica; if it is there, record its key (`ml-connector keys --flow {flow} --map {key}=<its key> --yes`), else remove the entry (`--forget {key} --yes`). Set `source_key_field` (e.g. AccountRef) so the flow can find such records itself",
                record.key,
                entry.run_id.map(|r| r.to_string()).unwrap_or_default(),
                flow = self.mapping.flow,
                key = record.key,
            )));
        };
        let found = self.reader().find_by_field(field, &record.key).await?;
        match found.as_slice() {
            [] => Ok(Ok(None)),
            [one] => {
                let Some(saved) = saved_key(&Value::Object(one.clone()), self.key_field()) else {
                    return Ok(Err(format!(
                        "an earlier insert of {entity} `{}` got no answer; a record with {field} `{}` exists but its key could not be read",
                        record.key, record.key
                    )));
                };
                let lease = state.keeper.fresh().await?;
                let m = self
                    .store
                    .put_key_mapping(
                        &lease,
                        &NewKeyMapping::mapped(
                            entity,
                            &record.key,
                            &saved,
                            Some(state.run_id.clone()),
                        ),
                    )
                    .await?;
                book.set(m);
                state
                    .audit(
                        self.store.as_ref(),
                        Some(&self.natural_key(&record.key)),
                        AuditStage::Mapped,
                        "key_mapped",
                        json!({"requested_key": record.key, "saved_key": saved, "was": "inserting", "found_by": field}),
                    )
                    .await?;
                Ok(Ok(Some(saved)))
            }
            several => Ok(Err(format!(
                "an earlier insert of {entity} `{}` got no answer, and {} records have {field} `{}`; not inserting again. Keep one in Acumatica and run again",
                record.key,
                several.len(),
                record.key
            ))),
        }
    }
}
