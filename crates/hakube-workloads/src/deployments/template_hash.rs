//! The pod-template-hash that names a Deployment's ReplicaSets and keeps their selectors
//! apart: FNV-32a over the template, then over the collision count, written as upstream
//! writes it (the decimal digits mapped onto consonants and digits, e.g. "7c5ddbdf54").
//! Upstream hashes the Go struct dump of the template; the canonical JSON is hashed here, so
//! the values differ from upstream's but have the same form and stability.

use hakube_kinds::k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label (and selector term) a Deployment adds to each of its ReplicaSets.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Upstream's rand.SafeEncodeString alphabet: no vowels (no words) and no look-alikes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The hash of `template` for a Deployment whose status.collisionCount is `collision_count`.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Serialising a typed template cannot fail (no maps with non-string keys).
    let encoded = serde_json::to_vec(template).unwrap_or_default();
    let mut hasher = Fnv32a::new();
    hasher.write(&encoded);
    if let Some(count) = collision_count {
        // Upstream writes the count as a little-endian u32 into an 8-byte buffer.
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&count.to_le_bytes());
        hasher.write(&bytes);
    }
    safe_encode(&hasher.finish().to_string())
}

/// Whether two templates are the same apart from the pod-template-hash label: the way a
/// Deployment recognises the ReplicaSet of its current template.
pub fn templates_equal_ignoring_hash(left: &PodTemplateSpec, right: &PodTemplateSpec) -> bool {
    without_hash_label(left) == without_hash_label(right)
}

fn without_hash_label(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut template = template.clone();
    if let Some(metadata) = template.metadata.as_mut()
        && let Some(labels) = metadata.labels.as_mut()
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
        if labels.is_empty() {
            // An emptied label map and a missing one mean the same template.
            metadata.labels = None;
        }
    }
    template
}

fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| char::from(SAFE_ALPHABET[usize::from(byte) % SAFE_ALPHABET.len()]))
        .collect()
}

/// 32-bit FNV-1a (Fowler–Noll–Vo), as Go's hash/fnv New32a.
struct Fnv32a(u32);

impl Fnv32a {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;

    fn new() -> Self {
        Self(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u32::from(*byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_objects::template;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let hash = |text: &str| {
            let mut hasher = Fnv32a::new();
            hasher.write(text.as_bytes());
            hasher.finish()
        };
        assert_eq!(hash(""), 0x811c_9dc5);
        assert_eq!(hash("a"), 0xe40c_292c);
        assert_eq!(hash("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn the_encoding_maps_digits_like_upstream() {
        // '0' is byte 48, 48 % 27 = 21 → '4'; '9' is 57 % 27 = 3 → 'f'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn the_hash_depends_on_the_template_and_the_collision_count() {
        let nginx = template(&[("app", "web")], "nginx:1");
        let hash = pod_template_hash(&nginx, None);
        assert!((1..=10).contains(&hash.len()));
        assert!(hash.bytes().all(|byte| SAFE_ALPHABET.contains(&byte)));
        assert_eq!(hash, pod_template_hash(&nginx.clone(), None));
        assert_ne!(
            hash,
            pod_template_hash(&template(&[("app", "web")], "nginx:2"), None)
        );
        assert_ne!(hash, pod_template_hash(&nginx, Some(1)));
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let plain = template(&[("app", "web")], "nginx:1");
        let hashed = template(
            &[("app", "web"), (POD_TEMPLATE_HASH_LABEL, "abc")],
            "nginx:1",
        );
        assert!(templates_equal_ignoring_hash(&plain, &hashed));
        let other = template(&[("app", "web")], "nginx:2");
        assert!(!templates_equal_ignoring_hash(&plain, &other));
    }
}
