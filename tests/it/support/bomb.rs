//! A decompression bomb: a small gzip layer that inflates to gigabytes.
//!
//! A registry serves what it likes. A layer blob of one megabyte whose digest is
//! right can still hold a tar of a gigabyte of zeros (deflate shrinks a run of
//! zeros about 1000 times), and a client that unpacks without a limit fills the
//! disk. The bomb is built without compressing a gigabyte: after a *full flush*
//! deflate forgets everything it saw, so one megabyte of zeros compresses to the
//! same bytes every time and the stream is those bytes repeated. The gzip trailer
//! (CRC-32 and size) is right too, computed with `Crc::combine`, and so is the
//! `diff_id`, hashed by `openssl dgst` from a stream of zeros (about 1 GB/s, where
//! the test binary's unoptimised `sha2` would take many seconds).

use std::io::Write;
use std::process::{Command, Stdio};

use flate2::{Compress, Crc, FlushCompress};

use super::oci_layout::{Compression, Layer};

const MIB: usize = 1 << 20;

/// A gzip layer holding a tar with one regular file, `zeros`, of `mib` MiB of
/// zeros. About 1 KiB of blob per MiB of file; 1024 MiB takes about a second to
/// make (mostly hashing the diff_id).
pub fn gzip_bomb(mib: usize) -> Layer {
    let mut header = tar::Header::new_ustar();
    header.set_path("zeros").expect("a short path");
    header.set_size((mib * MIB) as u64);
    header.set_mode(0o644);
    // Every numeric field set: tar readers (GNU tar, the tar crate) refuse a
    // header whose owner or time is left blank.
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let header = header.as_bytes();
    // After the file: two zero blocks end the tar.
    let trailer = [0u8; 1024];
    let zeros = vec![0u8; MIB];

    let mut deflate = Compress::new(flate2::Compression::best(), false);
    let head = compress(&mut deflate, header, FlushCompress::Full);
    let chunk = compress(&mut deflate, &zeros, FlushCompress::Full);
    let again = compress(&mut deflate, &zeros, FlushCompress::Full);
    assert_eq!(chunk, again, "a full flush should make deflate repeat itself");
    let tail = compress(&mut deflate, &trailer, FlushCompress::Finish);

    let (mut crc, mut chunk_crc, mut tail_crc) = (Crc::new(), Crc::new(), Crc::new());
    crc.update(header);
    chunk_crc.update(&zeros);
    tail_crc.update(&trailer);
    let mut blob = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]; // gzip, deflate, no name, no time
    blob.extend_from_slice(&head);
    for _ in 0..mib {
        blob.extend_from_slice(&chunk);
        crc.combine(&chunk_crc);
    }
    blob.extend_from_slice(&tail);
    crc.combine(&tail_crc);
    blob.extend_from_slice(&crc.sum().to_le_bytes());
    blob.extend_from_slice(&crc.amount().to_le_bytes()); // the size, modulo 2^32

    let media_type = Compression::Gzip.media_type().to_owned();
    Layer { media_type, blob, diff_id: sha256_of_stream(header, mib, &zeros, &trailer) }
}

/// Raw deflate of `input`, ending with `flush`.
fn compress(deflate: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut out = Vec::new();
    let start = deflate.total_in();
    loop {
        let consumed = usize::try_from(deflate.total_in() - start).expect("fits");
        out.reserve(64 * 1024);
        let status = deflate.compress_vec(&input[consumed..], &mut out, flush).expect("deflate");
        let all_in = usize::try_from(deflate.total_in() - start).expect("fits") == input.len();
        // As with zlib: a flush is complete when it returns with output room to spare.
        let complete = match flush {
            FlushCompress::Finish => status == flate2::Status::StreamEnd,
            _ => all_in && out.len() < out.capacity(),
        };
        if complete {
            return out;
        }
    }
}

/// `sha256:<hex>` of header + `mib` × zeros + trailer, by `openssl dgst`.
fn sha256_of_stream(header: &[u8], mib: usize, zeros: &[u8], trailer: &[u8]) -> String {
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl");
    let mut stdin = openssl.stdin.take().expect("stdin");
    stdin.write_all(header).expect("to openssl");
    for _ in 0..mib {
        stdin.write_all(zeros).expect("to openssl");
    }
    stdin.write_all(trailer).expect("to openssl");
    drop(stdin);
    let out = openssl.wait_with_output().expect("openssl dgst");
    let hex = String::from_utf8_lossy(&out.stdout).split(' ').next().unwrap_or_default().to_owned();
    assert!(out.status.success() && hex.len() == 64, "openssl dgst failed");
    format!("sha256:{hex}")
}
