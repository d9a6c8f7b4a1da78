//! The protobuf wire format, read by hand: varints, length-delimited
//! payloads and fixed 32/64-bit values. Just enough for gogo-protobuf
//! output; groups (wire types 3 and 4) are deprecated and never produced
//! by Kubernetes, so they are rejected rather than skipped.

use super::error::ProtobufError;

/// The low three bits of a field key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

impl WireType {
    pub fn number(self) -> u8 {
        match self {
            WireType::Varint => 0,
            WireType::Fixed64 => 1,
            WireType::Len => 2,
            WireType::Fixed32 => 5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "fixed64",
            WireType::Len => "length-delimited",
            WireType::Fixed32 => "fixed32",
        }
    }
}

/// A cursor over one message's bytes. `base` is where `buf` starts in the
/// whole body, so errors point at absolute offsets the sender can find.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], base: usize) -> Reader<'a> {
        Reader { buf, pos: 0, base }
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    pub fn varint(&mut self) -> Result<u64, ProtobufError> {
        let start = self.offset();
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(ProtobufError::TruncatedVarint { at: start });
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintTooLong { at: start })
    }

    /// Reads a field key; `None` at the end of the message.
    pub fn key(&mut self) -> Result<Option<(u32, WireType)>, ProtobufError> {
        if self.is_empty() {
            return Ok(None);
        }
        let at = self.offset();
        let key = self.varint()?;
        let number = key >> 3;
        // Field numbers are 1..2^29-1 by the protobuf spec.
        let number = match u32::try_from(number) {
            Ok(n) if (1..1 << 29).contains(&n) => n,
            _ => return Err(ProtobufError::InvalidFieldNumber { at, number }),
        };
        let wire_type = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            other => {
                return Err(ProtobufError::UnsupportedWireType {
                    at,
                    // `key & 7` is at most 7.
                    wire_type: other as u8,
                });
            }
        };
        Ok(Some((number, wire_type)))
    }

    fn take(&mut self, needed: u64, at: usize) -> Result<&'a [u8], ProtobufError> {
        let remaining = self.buf.len().saturating_sub(self.pos);
        let len = usize::try_from(needed)
            .ok()
            .filter(|&n| n <= remaining)
            .ok_or(ProtobufError::Truncated {
                at,
                needed,
                remaining,
            })?;
        let bytes = self.buf.get(self.pos..self.pos + len).unwrap_or_default();
        self.pos += len;
        Ok(bytes)
    }

    /// Reads a length-delimited payload as a reader of its own.
    pub fn len_delimited(&mut self) -> Result<Reader<'a>, ProtobufError> {
        let at = self.offset();
        let len = self.varint()?;
        let start = self.offset();
        let bytes = self.take(len, at)?;
        Ok(Reader::new(bytes, start))
    }

    fn fixed(&mut self, width: u64) -> Result<(), ProtobufError> {
        let at = self.offset();
        self.take(width, at).map(|_| ())
    }

    /// Reads a little-endian fixed64 value (a `double`'s bits).
    pub fn fixed64(&mut self) -> Result<u64, ProtobufError> {
        let at = self.offset();
        let bytes = self.take(8, at)?;
        let word = <[u8; 8]>::try_from(bytes).map_err(|_| ProtobufError::Truncated {
            at,
            needed: 8,
            remaining: bytes.len(),
        })?;
        Ok(u64::from_le_bytes(word))
    }

    /// Steps over a field the schema does not know (e.g. one added in a
    /// newer Kubernetes release).
    pub fn skip(&mut self, wire_type: WireType) -> Result<(), ProtobufError> {
        match wire_type {
            WireType::Varint => self.varint().map(|_| ()),
            WireType::Fixed64 => self.fixed(8),
            WireType::Len => self.len_delimited().map(|_| ()),
            WireType::Fixed32 => self.fixed(4),
        }
    }
}
