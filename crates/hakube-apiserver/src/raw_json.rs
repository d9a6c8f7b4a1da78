//! Serving stored objects without decoding them: a stored object is JSON without
//! `metadata.resourceVersion` (the store's revision is the version), so a LIST can copy each
//! object's bytes and splice `"resourceVersion":"N"` in at the start of its metadata. Parsing
//! and re-encoding 10,000 pods costs far more than scanning them once for where metadata
//! begins. Anything unexpected (no metadata object, a stored resourceVersion, malformed
//! bytes) answers None and the caller decodes that object instead.

/// `bytes` with `"resourceVersion":"<revision>"` as the first field of its top-level
/// `metadata` object, or None when that cannot be done safely.
pub fn with_resource_version(bytes: &[u8], revision: u64) -> Option<Vec<u8>> {
    let (offset, empty) = metadata_start(bytes)?;
    let field = format!(
        "\"resourceVersion\":\"{revision}\"{}",
        if empty { "" } else { "," }
    );
    let mut out = Vec::with_capacity(bytes.len() + field.len());
    out.extend_from_slice(&bytes[..offset]);
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(&bytes[offset..]);
    Some(out)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn skip_space(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.bytes.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.at).copied()
    }

    /// A string starting here; returns its raw contents (escapes left as they are).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let bytes: &'a [u8] = self.bytes;
        loop {
            match *bytes.get(self.at)? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return bytes.get(start..self.at - 1);
                }
                _ => self.at += 1,
            }
        }
    }

    /// Skips one value of any kind.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.bytes.get(self.at)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                while !matches!(
                    self.bytes.get(self.at)?,
                    b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'
                ) {
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

/// Where the top-level metadata object's fields begin, and whether it has none; None if it is
/// missing or already holds a resourceVersion.
fn metadata_start(bytes: &[u8]) -> Option<(usize, bool)> {
    let mut scan = Scanner { bytes, at: 0 };
    scan.expect(b'{')?;
    loop {
        if scan.peek()? == b'}' {
            return None;
        }
        let key = scan.string()?;
        scan.expect(b':')?;
        if key == b"metadata" {
            scan.expect(b'{')?;
            let start = scan.at;
            return metadata_fields_ok(&mut scan).map(|empty| (start, empty));
        }
        scan.value()?;
        match scan.peek()? {
            b',' => scan.at += 1,
            _ => return None,
        }
    }
}

/// Checks the metadata object's fields (after its `{`): true when it has none; None when one
/// is a resourceVersion or the bytes are malformed.
fn metadata_fields_ok(scan: &mut Scanner<'_>) -> Option<bool> {
    if scan.peek()? == b'}' {
        return Some(true);
    }
    loop {
        if scan.string()? == b"resourceVersion" {
            return None;
        }
        scan.expect(b':')?;
        scan.value()?;
        match scan.peek()? {
            b',' => scan.at += 1,
            b'}' => return Some(false),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn spliced(object: &Value, revision: u64) -> Option<Value> {
        let bytes = serde_json::to_vec(object).expect("encodes");
        with_resource_version(&bytes, revision)
            .map(|b| serde_json::from_slice(&b).expect("valid JSON"))
    }

    #[test]
    fn the_same_object_as_decoding_and_setting_it() {
        let object = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "labels": {"a": "x\"}{,"},
                "annotations": {"note": "metadata: {\"resourceVersion\": 1}"}},
            "spec": {"containers": [{"name": "c", "image": "busybox", "args": ["[", "{"]}]},
            "status": {"phase": "Running", "ready": true, "count": -1.5e3, "none": null}});
        let mut expected = object.clone();
        expected["metadata"]["resourceVersion"] = json!("42");
        assert_eq!(spliced(&object, 42), Some(expected));
    }

    #[test]
    fn empty_metadata_gets_a_lone_field() {
        assert_eq!(
            spliced(&json!({"kind": "X", "metadata": {}}), 7),
            Some(json!({"kind": "X", "metadata": {"resourceVersion": "7"}}))
        );
    }

    #[test]
    fn anything_unexpected_is_left_to_the_decoder() {
        assert_eq!(spliced(&json!({"kind": "X"}), 7), None);
        assert_eq!(
            spliced(&json!({"metadata": {"resourceVersion": "3"}}), 7),
            None
        );
        assert_eq!(spliced(&json!({"metadata": "text"}), 7), None);
        assert_eq!(
            with_resource_version(b"{\"metadata\":{\"name\":\"a\"", 7),
            None
        );
        assert_eq!(with_resource_version(b"not json", 7), None);
    }

    #[test]
    fn escaped_quotes_in_keys_and_values_do_not_confuse_it() {
        let object =
            json!({"a\"metadata": {"resourceVersion": 1}, "metadata": {"name": "\\\"", "x": "\\"}});
        let got = spliced(&object, 9).expect("spliced");
        assert_eq!(got["metadata"]["resourceVersion"], "9");
        assert_eq!(got["metadata"]["name"], "\\\"");
        assert_eq!(got["a\"metadata"]["resourceVersion"], 1);
    }
}
