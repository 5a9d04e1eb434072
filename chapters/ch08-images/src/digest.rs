//! Content addresses: `sha256:<64 hex digits>`, and a reader that checks one while
//! the bytes stream past.
//!
//! Everything in an image is named by the hash of its bytes: the manifest names
//! the config and the layers by digest, and an index names manifests the same way.
//! So a registry (or a cache, or a CDN in between) cannot hand us different bytes
//! without our noticing — *if* we check. We check every blob while it streams, and
//! keep it only if both the digest and the size match what its descriptor said.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A `sha256:` digest. (The OCI spec also allows sha512; no registry we know
/// serves it, and refusing it clearly beats trusting it blindly.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("{0:?} is not a digest: expected sha256: and 64 lowercase hex digits")]
    Malformed(String),
    #[error("{0:?} uses an algorithm tincan does not support (only sha256)")]
    Unsupported(String),
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest { hex: hex(&Sha256::digest(bytes)) }
    }

    /// The 64 hex digits, without `sha256:`: a file name in the store.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as `docker images` shows them.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Digest, DigestError> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(DigestError::Malformed(text.to_owned()));
        };
        if algorithm != "sha256" {
            return Err(DigestError::Unsupported(text.to_owned()));
        }
        // Lowercase only: the digest becomes a file name, and two spellings of one
        // digest must not become two files.
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(DigestError::Malformed(text.to_owned()));
        }
        Ok(Digest { hex: hex.to_owned() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(digest: &Digest) -> Self {
        digest.to_string().parse().expect("a sha256 digest is a valid OCI digest")
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = DigestError;

    fn try_from(digest: &oci_spec::image::Digest) -> Result<Self, DigestError> {
        digest.to_string().parse()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reader that hashes and counts what passes through it, and fails — instead of
/// reporting the end — when the bytes are more than `size`, or when they end and
/// their digest or length is not the expected one. A consumer that reads to the
/// end therefore never sees success for the wrong bytes.
pub struct Verify<R> {
    inner: R,
    expected: Digest,
    size: u64,
    seen: u64,
    hasher: Sha256,
    failure: Option<String>,
}

impl<R: Read> Verify<R> {
    pub fn new(inner: R, expected: Digest, size: u64) -> Self {
        Verify { inner, expected, size, seen: 0, hasher: Sha256::new(), failure: None }
    }

    /// Why the bytes were refused, if they were: a reader further down the
    /// line (a decompressor, a tar parser) may report the error in its own
    /// words, or fail first on the wrong bytes, and the caller should say what
    /// really happened.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    fn fail(&mut self, message: String) -> io::Error {
        self.failure = Some(message.clone());
        io::Error::new(io::ErrorKind::InvalidData, message)
    }
}

impl<R: Read> Read for Verify<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Never ask for more than one byte past the promised size: enough to
        // notice a blob that is too long, without reading an endless one.
        let left = self.size - self.seen.min(self.size);
        let room = left.saturating_add(1).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.seen += n as u64;
        if self.seen > self.size {
            let message = format!(
                "{} is longer than the {} bytes its descriptor promised",
                self.expected, self.size
            );
            return Err(self.fail(message));
        }
        self.hasher.update(&buf[..n]);
        if n == 0 && !buf.is_empty() {
            if self.seen != self.size {
                let message = format!(
                    "{} ended after {} of the {} bytes its descriptor promised",
                    self.expected, self.seen, self.size
                );
                return Err(self.fail(message));
            }
            let got = Digest { hex: hex(&self.hasher.clone().finalize()) };
            if got != self.expected {
                return Err(
                    self.fail(format!("expected {}, but the bytes hash to {got}", self.expected))
                );
            }
        }
        Ok(n)
    }
}

/// Hash and count whatever passes through, with nothing expected yet: the diff id
/// of a layer is the digest of its *uncompressed* bytes, known only at the end.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing { inner, hasher: Sha256::new(), count: 0 }
    }

    /// The digest and length of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest { hex: hex(&self.hasher.finalize()) }, self.count)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn parses_and_prints_sha256() {
        let digest: Digest = HELLO.parse().unwrap();
        assert_eq!(digest, Digest::of(b"hello"));
        assert_eq!(digest.to_string(), HELLO);
        assert_eq!(digest.short(), "2cf24dba5fb0");
    }

    #[test]
    fn refuses_other_spellings() {
        assert!(matches!("sha512:abcd".parse::<Digest>(), Err(DigestError::Unsupported(_))));
        for bad in ["2cf24dba", "sha256:XYZ", &HELLO.to_uppercase().replace("SHA256", "sha256")] {
            assert!(matches!(bad.parse::<Digest>(), Err(DigestError::Malformed(_))), "{bad}");
        }
    }

    fn read_all(bytes: &[u8], digest: &str, size: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Verify::new(bytes, digest.parse().unwrap(), size).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn verify_passes_the_right_bytes() {
        assert_eq!(read_all(b"hello", HELLO, 5).unwrap(), b"hello");
    }

    #[test]
    fn verify_fails_on_other_bytes_a_short_blob_or_a_long_one() {
        let wrong = read_all(b"jello", HELLO, 5).unwrap_err();
        assert!(wrong.to_string().contains("hash to"), "{wrong}");
        let short = read_all(b"hell", HELLO, 5).unwrap_err();
        assert!(short.to_string().contains("ended after 4 of the 5"), "{short}");
        let long = read_all(b"hello!", HELLO, 5).unwrap_err();
        assert!(long.to_string().contains("longer than the 5 bytes"), "{long}");
    }

    /// A descriptor may claim any size: the largest one is no panic.
    #[test]
    fn verify_takes_the_largest_size_a_descriptor_can_claim() {
        let short = read_all(b"hello", HELLO, u64::MAX).unwrap_err();
        assert!(short.to_string().contains("ended after 5 of the"), "{short}");
    }

    #[test]
    fn hashing_counts_what_passed() {
        let mut reader = Hashing::new(&b"hello"[..]);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        assert_eq!(reader.finish(), (Digest::of(b"hello"), 5));
    }
}
