//! Checksummed on-disk records: a CRC32 of the payload followed by its postcard encoding.
//! Every log entry, vote and snapshot goes through here, so a flipped bit is detected when the
//! record is read instead of being applied.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes `value` as `crc32(payload) ++ payload`.
pub fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let payload =
        postcard::to_stdvec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes a record written by [`encode`]; `what` names the record in the error so an
/// operator knows which file is damaged.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &dyn Fn() -> String) -> io::Result<T> {
    let corrupt = |detail: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is corrupt: {detail}", what()),
        )
    };
    if bytes.len() < 4 {
        return Err(corrupt("record shorter than its checksum"));
    }
    let (sum, payload) = bytes.split_at(4);
    let expected = u32::from_le_bytes([sum[0], sum[1], sum[2], sum[3]]);
    if crc32fast::hash(payload) != expected {
        return Err(corrupt("checksum mismatch"));
    }
    postcard::from_bytes(payload).map_err(|e| corrupt(&format!("undecodable record ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_corruption() {
        let bytes = encode(&("key", 42u64)).unwrap();
        let back: (String, u64) = decode(&bytes, &|| "test record".into()).unwrap();
        assert_eq!(back, ("key".to_string(), 42));
        let mut damaged = bytes.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x40;
        let err = decode::<(String, u64)>(&damaged, &|| "log record 7 in /x/raft.redb".into())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("log record 7 in /x/raft.redb is corrupt")
        );
        assert!(decode::<(String, u64)>(&[1, 2], &|| "r".into()).is_err());
    }
}
