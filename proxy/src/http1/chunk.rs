//! Writing chunked transfer coding.

/// `{len:x}\r\n`, the line that opens a chunk, without formatting machinery.
pub fn chunk_size_line(len: usize) -> ChunkLine {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut line = ChunkLine {
        bytes: [0; 18],
        start: 16,
    };
    let mut value = len;
    loop {
        line.start -= 1;
        line.bytes[line.start] = DIGITS[value & 0xf];
        value >>= 4;
        if value == 0 {
            break;
        }
    }
    line.bytes[16] = b'\r';
    line.bytes[17] = b'\n';
    line
}

/// A chunk-size line on the stack.
pub struct ChunkLine {
    bytes: [u8; 18],
    start: usize,
}

impl ChunkLine {
    /// The line's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines_are_hex() {
        assert_eq!(chunk_size_line(0).as_bytes(), b"0\r\n");
        assert_eq!(chunk_size_line(255).as_bytes(), b"ff\r\n");
        assert_eq!(chunk_size_line(65536).as_bytes(), b"10000\r\n");
    }
}
