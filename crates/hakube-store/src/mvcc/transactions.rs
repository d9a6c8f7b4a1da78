//! Writes to the MVCC state: puts, deletes, transactions, leases and compaction (the apply
//! side), and the reads that transactions and the etcd API share.

use super::*;

/// Writes, transactions and leases.
impl KeyValueState {
    /// Appends a version of `key`. A second write of the key in one revision replaces the
    /// first: transactions reject that before they run, so this only keeps the history
    /// well-formed (one version per key and revision) should it ever happen.
    pub(super) fn push_version(&mut self, key: &[u8], version: Version) {
        let versions = self.keys.entry(key.to_vec()).or_default();
        match versions.last_mut() {
            Some(last) if last.mod_revision == version.mod_revision => *last = version,
            _ => versions.push(version),
        }
    }

    /// Writes `value` under `key` at `revision`, moving the key to `lease` (0: none; a lease
    /// that does not exist counts as none). Returns the new value and the previous one.
    pub(super) fn write_put(
        &mut self,
        key: &[u8],
        value: Bytes,
        lease: i64,
        revision: u64,
        sub_revision: u32,
    ) -> (KeyValue, Option<KeyValue>) {
        let previous = self.current(key);
        let (create_revision, version) = match &previous {
            Some(kv) => (kv.create_revision, kv.version + 1),
            None => (revision, 1),
        };
        if let Some(old) = previous.as_ref().map(|kv| kv.lease)
            && old != 0
            && old != lease
        {
            self.detach(old, key);
        }
        let lease = if lease != 0 && self.attach(lease, key) {
            lease
        } else {
            0
        };
        self.push_version(
            key,
            Version {
                mod_revision: revision,
                create_revision,
                version,
                value: Some(value.clone()),
                lease,
                sub_revision,
            },
        );
        let kv = KeyValue {
            key: key.to_vec(),
            value,
            create_revision,
            mod_revision: revision,
            version,
            lease,
        };
        (kv, previous)
    }

    /// Deletes `key` at `revision` if it is live, detaching it from its lease. Returns the
    /// deleted value.
    pub(super) fn write_delete(
        &mut self,
        key: &[u8],
        revision: u64,
        sub_revision: u32,
    ) -> Option<KeyValue> {
        let previous = self.current(key)?;
        if previous.lease != 0 {
            self.detach(previous.lease, key);
        }
        self.push_version(
            key,
            Version {
                mod_revision: revision,
                create_revision: 0,
                version: 0,
                value: None,
                lease: 0,
                sub_revision,
            },
        );
        Some(previous)
    }

    /// Adds `key` to the lease's keys; false when the lease does not exist.
    pub(super) fn attach(&mut self, lease: i64, key: &[u8]) -> bool {
        let Some(lease) = self.leases.get_mut(&lease) else {
            return false;
        };
        if let Err(at) = lease.keys.binary_search_by(|k| k.as_slice().cmp(key)) {
            lease.keys.insert(at, key.to_vec());
        }
        true
    }

    pub(super) fn detach(&mut self, lease: i64, key: &[u8]) {
        if let Some(lease) = self.leases.get_mut(&lease)
            && let Ok(at) = lease.keys.binary_search_by(|k| k.as_slice().cmp(key))
        {
            lease.keys.remove(at);
        }
    }

    /// Keys (with their versions) in a span, dead ones included.
    pub(super) fn span_versions<'s>(
        &'s self,
        span: KeySpan<'_>,
    ) -> Box<dyn Iterator<Item = (&'s Vec<u8>, &'s Vec<Version>)> + 's> {
        match span {
            KeySpan::Key(key) => Box::new(self.keys.get_key_value(key).into_iter()),
            KeySpan::Range { start, end } => Box::new(self.key_range(start, end)),
        }
    }

    // ---- transactions -------------------------------------------------------------------

    pub(super) fn apply_txn(&mut self, txn: &Txn) -> (CommandResponse, Vec<Event>) {
        match self.run_txn(txn) {
            Ok((output, events)) => (
                CommandResponse {
                    revision: self.revision,
                    succeeded: output.succeeded,
                    txn: Some(output),
                    ..Default::default()
                },
                events,
            ),
            Err(error) => self.rejected(error),
        }
    }

    /// Checks the whole transaction, then runs it; nothing changes when a check fails.
    pub(super) fn run_txn(&mut self, txn: &Txn) -> Result<(TxnOutput, Vec<Event>), TxnError> {
        txn.check_op_count(MAX_TXN_OPS)?;
        txn.check_duplicate_keys()?;
        // etcd decides every level's branch up front, against the state before the txn.
        let mut path = Vec::new();
        self.decide_path(txn, &mut path);
        let mut ops = Vec::new();
        path_ops(txn, &mut path.iter(), &mut ops);
        for op in &ops {
            if let TxnOp::Put(put) = op {
                if (put.ignore_value || put.ignore_lease) && self.current(&put.key).is_none() {
                    return Err(TxnError::KeyNotFound);
                }
                if put.lease != 0 && !self.leases.contains_key(&put.lease) {
                    return Err(TxnError::LeaseNotFound(put.lease));
                }
            }
        }
        for op in &ops {
            if let TxnOp::Range(range) = op {
                self.txn_read_revision(range.revision)?;
            }
        }
        // From here on nothing can fail: every write gets the next revision.
        let mut run = TxnRun {
            revision: self.revision + 1,
            next_sub_revision: 0,
            events: Vec::new(),
        };
        let output = self.run_level(txn, &mut path.iter(), &mut run);
        if !run.events.is_empty() {
            self.revision = run.revision;
        }
        Ok((output, run.events))
    }

    /// Answers a transaction without writes outside the log, as etcd serves read-only
    /// transactions (after a read barrier when linearizable). The same checks and output as
    /// applying it; None when some branch could write (it must go through the log).
    pub fn read_only_txn(&self, txn: &Txn) -> Option<Result<TxnOutput, TxnError>> {
        if !txn.is_read_only() {
            return None;
        }
        Some(self.answer_read_only(txn))
    }

    pub(super) fn answer_read_only(&self, txn: &Txn) -> Result<TxnOutput, TxnError> {
        txn.check_op_count(MAX_TXN_OPS)?;
        let mut path = Vec::new();
        self.decide_path(txn, &mut path);
        let mut ops = Vec::new();
        path_ops(txn, &mut path.iter(), &mut ops);
        for op in &ops {
            if let TxnOp::Range(range) = op {
                self.txn_read_revision(range.revision)?;
            }
        }
        Ok(self.read_level(txn, &mut path.iter()))
    }

    pub(super) fn read_level(&self, txn: &Txn, path: &mut std::slice::Iter<'_, bool>) -> TxnOutput {
        let succeeded = path.next().copied().unwrap_or(false);
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let responses = ops
            .iter()
            .filter_map(|op| match op {
                TxnOp::Range(range) => {
                    let at = match u64::try_from(range.revision) {
                        Ok(r) if r > 0 => r,
                        _ => self.revision,
                    };
                    Some(TxnOpOutput::Range(self.range_at(range, at)))
                }
                TxnOp::Txn(inner) => Some(TxnOpOutput::Txn(self.read_level(inner, path))),
                // Not in a read-only transaction.
                TxnOp::Put(_) | TxnOp::DeleteRange(_) => None,
            })
            .collect();
        TxnOutput {
            succeeded,
            responses,
        }
    }

    /// Appends, in pre-order, whether each transaction on the path taken succeeds.
    pub(super) fn decide_path(&self, txn: &Txn, path: &mut Vec<bool>) {
        let succeeded = txn.compares.iter().all(|c| self.compare_holds(c));
        path.push(succeeded);
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        for op in ops {
            if let TxnOp::Txn(inner) = op {
                self.decide_path(inner, path);
            }
        }
    }

    /// A compare over a range holds when it holds for every live key in it; over no key, it
    /// is evaluated against a missing key.
    pub(super) fn compare_holds(&self, compare: &crate::txn::Compare) -> bool {
        let span = KeySpan::new(&compare.key, &compare.range_end);
        let mut any = false;
        for (key, versions) in self.span_versions(span) {
            let Some(kv) = versions.last().and_then(|v| v.key_value(key)) else {
                continue;
            };
            any = true;
            if !compare.holds_for(Some(&kv)) {
                return false;
            }
        }
        any || compare.holds_for(None)
    }

    pub(super) fn run_level(
        &mut self,
        txn: &Txn,
        path: &mut std::slice::Iter<'_, bool>,
        run: &mut TxnRun,
    ) -> TxnOutput {
        let succeeded = path.next().copied().unwrap_or(false);
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let response = match op {
                TxnOp::Range(range) => {
                    // The state so far: writes of this txn are at `run.revision`.
                    let at = match u64::try_from(range.revision) {
                        Ok(r) if r > 0 => r,
                        _ => run.revision,
                    };
                    TxnOpOutput::Range(self.range_at(range, at))
                }
                TxnOp::Put(put) => {
                    let current = self.current(&put.key);
                    let value = match (&current, put.ignore_value) {
                        (Some(kv), true) => kv.value.clone(),
                        (None, true) => Bytes::new(),
                        (_, false) => Bytes::from(put.value.clone()),
                    };
                    let lease = match (&current, put.ignore_lease) {
                        (Some(kv), true) => kv.lease,
                        (None, true) => 0,
                        (_, false) => put.lease,
                    };
                    let sub = run.sub_revision();
                    let (kv, previous) = self.write_put(&put.key, value, lease, run.revision, sub);
                    run.events.push(Event {
                        kind: EventKind::Put,
                        kv,
                        previous: previous.clone(),
                    });
                    TxnOpOutput::Put {
                        prev_kv: previous.filter(|_| put.prev_kv),
                    }
                }
                TxnOp::DeleteRange(delete) => {
                    let span = KeySpan::new(&delete.key, &delete.range_end);
                    let live: Vec<Vec<u8>> = self
                        .span_versions(span)
                        .filter(|(_, versions)| versions.last().is_some_and(|v| v.value.is_some()))
                        .map(|(key, _)| key.clone())
                        .collect();
                    let mut deleted = 0;
                    let mut prev_kvs = Vec::new();
                    for key in live {
                        let sub = run.sub_revision();
                        if let Some(previous) = self.write_delete(&key, run.revision, sub) {
                            deleted += 1;
                            if delete.prev_kv {
                                prev_kvs.push(previous.clone());
                            }
                            run.events.push(Event {
                                kind: EventKind::Delete,
                                kv: tombstone_kv(&key, run.revision),
                                previous: Some(previous),
                            });
                        }
                    }
                    TxnOpOutput::DeleteRange { deleted, prev_kvs }
                }
                TxnOp::Txn(inner) => TxnOpOutput::Txn(self.run_level(inner, path, run)),
            };
            responses.push(response);
        }
        TxnOutput {
            succeeded,
            responses,
        }
    }

    /// The revision a range with `revision` reads at (etcd: 0 or negative is the latest).
    pub(super) fn txn_read_revision(&self, revision: i64) -> Result<u64, TxnError> {
        let Ok(requested) = u64::try_from(revision) else {
            return Ok(self.revision);
        };
        if requested == 0 {
            return Ok(self.revision);
        }
        if requested > self.revision {
            return Err(TxnError::FutureRevision);
        }
        if requested < self.compact_revision {
            return Err(TxnError::Compacted);
        }
        Ok(requested)
    }

    /// etcd's range at a readable revision: count, filters, sort, limit, keys/count only.
    pub(super) fn range_at(&self, op: &RangeOp, at: u64) -> RangeOutput {
        let span = KeySpan::new(&op.key, &op.range_end);
        let mut matched: Vec<(&[u8], &Version)> = self
            .span_versions(span)
            .filter_map(|(key, versions)| visible(versions, at).map(|v| (key.as_slice(), v)))
            .collect();
        let count = i64::try_from(matched.len()).unwrap_or(i64::MAX);
        if op.count_only {
            return RangeOutput {
                kvs: Vec::new(),
                more: false,
                count,
            };
        }
        if op.max_mod_revision != 0 {
            matched.retain(|(_, v)| to_i64(v.mod_revision) <= op.max_mod_revision);
        }
        if op.min_mod_revision != 0 {
            matched.retain(|(_, v)| to_i64(v.mod_revision) >= op.min_mod_revision);
        }
        if op.max_create_revision != 0 {
            matched.retain(|(_, v)| to_i64(v.create_revision) <= op.max_create_revision);
        }
        if op.min_create_revision != 0 {
            matched.retain(|(_, v)| to_i64(v.create_revision) >= op.min_create_revision);
        }
        // Keys come in ascending order already; another target sorts ascending by default.
        let order = match (op.sort_order, op.sort_target) {
            (SortOrder::None | SortOrder::Ascend, SortTarget::Key) => SortOrder::None,
            (SortOrder::None, _) => SortOrder::Ascend,
            (order, _) => order,
        };
        let target = op.sort_target;
        let compare = |a: &(&[u8], &Version), b: &(&[u8], &Version)| match target {
            SortTarget::Key => a.0.cmp(b.0),
            SortTarget::Version => a.1.version.cmp(&b.1.version),
            SortTarget::Create => a.1.create_revision.cmp(&b.1.create_revision),
            SortTarget::Mod => a.1.mod_revision.cmp(&b.1.mod_revision),
            SortTarget::Value => a.1.value.cmp(&b.1.value),
        };
        // Stable sorts: ties stay in ascending key order, so every replica answers alike.
        match order {
            SortOrder::None => {}
            SortOrder::Ascend => matched.sort_by(compare),
            SortOrder::Descend => matched.sort_by(|a, b| compare(b, a)),
        }
        let mut more = false;
        if let Ok(limit) = usize::try_from(op.limit)
            && limit > 0
            && matched.len() > limit
        {
            matched.truncate(limit);
            more = true;
        }
        let kvs = matched
            .into_iter()
            .map(|(key, v)| KeyValue {
                key: key.to_vec(),
                value: if op.keys_only {
                    Bytes::new()
                } else {
                    v.value.clone().unwrap_or_default()
                },
                create_revision: v.create_revision,
                mod_revision: v.mod_revision,
                version: v.version,
                lease: v.lease,
            })
            .collect();
        RangeOutput { kvs, more, count }
    }

    /// An etcd range read outside the log: `revision` 0 is the latest; a compacted or future
    /// revision is an error. Kept consistent with ranges inside a transaction.
    pub fn range_op(&self, op: &RangeOp) -> Result<RangeOutput, TxnError> {
        let at = self.txn_read_revision(op.revision)?;
        Ok(self.range_at(op, at))
    }

    // ---- leases -------------------------------------------------------------------------

    pub(super) fn lease_grant(&mut self, id: i64, ttl_seconds: i64) -> CommandResponse {
        if id == 0 {
            return self.failed(None, "lease id 0 is reserved (no lease)".to_owned());
        }
        if self.leases.contains_key(&id) {
            return self.failed(None, "lease already exists".to_owned());
        }
        self.leases.insert(
            id,
            Lease {
                id,
                ttl_seconds,
                remaining_ms: None,
                keys: Vec::new(),
            },
        );
        CommandResponse {
            revision: self.revision,
            succeeded: true,
            ..Default::default()
        }
    }

    /// The answer to an operation rejected as a whole: nothing applied, revision unchanged.
    pub(super) fn rejected(&self, error: TxnError) -> (CommandResponse, Vec<Event>) {
        let response = CommandResponse {
            revision: self.revision,
            succeeded: false,
            failure: Some(error.to_string()),
            txn_error: Some(error),
            ..Default::default()
        };
        (response, Vec::new())
    }

    /// Deletes every key attached to the lease, in key order and in one revision, then the
    /// lease (the revision is unchanged when it had no keys).
    pub(super) fn lease_revoke(&mut self, id: i64) -> (CommandResponse, Vec<Event>) {
        let Some(keys) = self.leases.get(&id).map(|lease| lease.keys.clone()) else {
            return self.rejected(TxnError::LeaseNotFound(id));
        };
        let mut run = TxnRun {
            revision: self.revision + 1,
            next_sub_revision: 0,
            events: Vec::new(),
        };
        for key in keys {
            let sub = run.sub_revision();
            if let Some(previous) = self.write_delete(&key, run.revision, sub) {
                run.events.push(Event {
                    kind: EventKind::Delete,
                    kv: tombstone_kv(&key, run.revision),
                    previous: Some(previous),
                });
            }
        }
        self.leases.remove(&id);
        if !run.events.is_empty() {
            self.revision = run.revision;
        }
        (
            CommandResponse {
                revision: self.revision,
                succeeded: true,
                ..Default::default()
            },
            run.events,
        )
    }

    /// Records remaining times (ms) of existing leases; unknown ids are ignored, and a value
    /// of 0 or less clears the checkpoint (a new leader then starts from the full TTL, as
    /// etcd's `remaining_TTL == 0`).
    pub(super) fn lease_checkpoint(&mut self, remaining_ms: &[(i64, i64)]) -> CommandResponse {
        for &(id, remaining) in remaining_ms {
            if let Some(lease) = self.leases.get_mut(&id) {
                lease.remaining_ms = (remaining > 0).then_some(remaining);
            }
        }
        CommandResponse {
            revision: self.revision,
            succeeded: true,
            ..Default::default()
        }
    }

    pub fn lease(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// Every lease id, ascending.
    pub fn lease_ids(&self) -> Vec<i64> {
        self.leases.keys().copied().collect()
    }

    /// Every lease, by ascending id.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }

    // ---- integrity ----------------------------------------------------------------------

    /// A CRC32 over every live key, value and mod revision at `revision` (0: the latest), in
    /// key order: replicas that applied the same log agree on it.
    pub fn hash_kv(&self, revision: u64) -> Result<u32, ReadError> {
        let at = self.read_revision((revision != 0).then_some(revision))?;
        let mut hasher = crc32fast::Hasher::new();
        for (key, versions) in &self.keys {
            let Some(version) = visible(versions, at) else {
                continue;
            };
            let value = version.value.as_deref().unwrap_or_default();
            hasher.update(&(key.len() as u64).to_le_bytes());
            hasher.update(key);
            hasher.update(&(value.len() as u64).to_le_bytes());
            hasher.update(value);
            hasher.update(&version.mod_revision.to_le_bytes());
        }
        Ok(hasher.finalize())
    }
}

/// The non-transaction ops on the path `path` chooses, in the order they run.
fn path_ops<'t>(txn: &'t Txn, path: &mut std::slice::Iter<'_, bool>, out: &mut Vec<&'t TxnOp>) {
    let succeeded = path.next().copied().unwrap_or(false);
    let ops = if succeeded {
        &txn.success
    } else {
        &txn.failure
    };
    for op in ops {
        match op {
            TxnOp::Txn(inner) => path_ops(inner, path, out),
            other => out.push(other),
        }
    }
}
