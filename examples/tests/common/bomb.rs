//! A decompression bomb: a PNG of a few megabytes whose pixels really decode to hundreds of
//! megabytes, written directly (an encoder would first need the pixels in memory, and
//! takes seconds to compress them in a debug build).

/// A black greyscale PNG of `side` x `side` pixels. Every row is a filter byte and `side`
/// pixels, all zero, so the image data is one literal zero and then deflate's longest
/// back-reference (258 bytes, one back) over and over: 13 bits per 258 bytes.
pub fn png_bomb(side: u32) -> Vec<u8> {
    let raw = u64::from(side) * (u64::from(side) + 1);
    let mut bits = Bits::default();
    bits.put(1, 1); // the last block
    bits.put(1, 2); // with the fixed Huffman codes
    bits.code(0b0011_0000, 8); // literal 0
    let mut left = raw - 1;
    while left >= 258 {
        bits.code(0b1100_0101, 8); // length 258 (symbol 285)
        bits.code(0, 5); // distance 1
        left -= 258;
    }
    for _ in 0..left {
        bits.code(0b0011_0000, 8);
    }
    bits.code(0, 7); // end of block (symbol 256)

    let mut zlib = vec![0x78, 0x01];
    zlib.extend(bits.finish());
    // Adler-32 of zeros: the sum stays 1, and the sum of sums counts the bytes.
    let adler = ((raw % 65521) << 16) | 1;
    zlib.extend((adler as u32).to_be_bytes());

    let mut header = [side.to_be_bytes(), side.to_be_bytes()].concat();
    header.extend([8, 0, 0, 0, 0]); // 8-bit greyscale, deflate, no filter choice, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend((data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend(kind);
    png.extend(data);
    let crc = crc32(&png[start..]);
    png.extend(crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Deflate's bit order: values fill each byte from its lowest bit; Huffman codes go in
/// from their highest bit.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    current: u8,
    used: u8,
}

impl Bits {
    fn bit(&mut self, bit: u32) {
        self.current |= ((bit & 1) as u8) << self.used;
        self.used += 1;
        if self.used == 8 {
            self.bytes.push(self.current);
            (self.current, self.used) = (0, 0);
        }
    }

    fn put(&mut self, value: u32, width: u32) {
        for i in 0..width {
            self.bit(value >> i);
        }
    }

    fn code(&mut self, code: u32, width: u32) {
        for i in (0..width).rev() {
            self.bit(code >> i);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.bytes.push(self.current);
        }
        self.bytes
    }
}
