//! A layer's compression: none, gzip or zstd, told by its first bytes.
//!
//! A layer blob is a tar archive, usually compressed. The manifest says how in
//! the layer's media type (`application/vnd.oci.image.layer.v1.tar+gzip`, or
//! Docker's older `application/vnd.docker.image.rootfs.diff.tar.gzip`), and the
//! digest names the compressed bytes — so the blob is checked as it arrives,
//! then decompressed to be unpacked.
//!
//! Which do we trust to pick the decompressor, the media type or the bytes? The
//! bytes. A media type is a claim some tool wrote into a manifest, and tools have
//! got it wrong (gzip layers labelled plain `tar`); the first bytes of the blob
//! are what a decompressor will actually read, and every format starts with its
//! own magic number: gzip `1f 8b`, zstd `28 b5 2f fd`. A tar archive starts with
//! a file name, so anything else is read as plain tar — and if it is not, the
//! tar reader says so. The media type still tells us whether a blob is a layer
//! at all ([`Compression::from_media_type`]).

use std::io::{self, BufRead, Read};

/// How a layer's tar archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// From an OCI or Docker layer media type; `None` if it is not a layer type
    /// we know. ("nondistributable" and "foreign" layers are ordinary layers
    /// that a registry may not serve; their bytes, when we have them, are the
    /// same format.)
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }

    /// From the first bytes of a blob (at least four, where there are four).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A reader of the decompressed bytes of `reader`, whose format is sniffed from
/// its first bytes (see the module's doc for why the magic, not the media type).
pub fn decompressed<'a>(mut reader: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
    // Read the magic, then put it back in front: one `fill_buf` may hold fewer
    // bytes than the magic (a network read can be that short).
    let mut head = Vec::with_capacity(ZSTD_MAGIC.len());
    (&mut reader).take(ZSTD_MAGIC.len() as u64).read_to_end(&mut head)?;
    let format = Compression::sniff(&head);
    let reader = io::Cursor::new(head).chain(reader);
    Ok(match format {
        // Multi: a gzip file may hold several members one after the other, and
        // some layers do (eStargz, for lazy pulling, is one member per file). A
        // plain decoder would stop after the first and lose the rest.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        // zstd's decoder reads every frame of a multi-frame stream (zstd:chunked).
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        Compression::None => Box::new(reader),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn a_tar() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(6);
        header.set_cksum();
        builder.append_data(&mut header, "hello", &b"hello\n"[..]).unwrap();
        builder.into_inner().unwrap()
    }

    fn read_all(blob: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decompressed(blob).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn each_format_round_trips_and_is_sniffed() {
        let tar = a_tar();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&tar).unwrap();
        let gzip = gzip.finish().unwrap();
        let zstd = zstd::encode_all(&tar[..], 3).unwrap();
        for (blob, format) in
            [(&tar, Compression::None), (&gzip, Compression::Gzip), (&zstd, Compression::Zstd)]
        {
            assert_eq!(Compression::sniff(blob), format);
            assert_eq!(read_all(blob), tar, "{format:?}");
            // The magic is found even when the first read returns one byte.
            let mut out = Vec::new();
            let trickle = io::BufReader::with_capacity(1, &blob[..]);
            decompressed(trickle).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, tar, "{format:?}, one byte at a time");
        }
    }

    /// eStargz layers are many gzip members back to back.
    #[test]
    fn every_member_of_a_multi_member_gzip_is_read() {
        let mut blob = Vec::new();
        for part in [&b"first "[..], b"second"] {
            let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gzip.write_all(part).unwrap();
            blob.extend(gzip.finish().unwrap());
        }
        assert_eq!(read_all(&blob), b"first second");
    }

    #[test]
    fn short_and_empty_blobs_are_plain() {
        assert_eq!(Compression::sniff(&[0x1f]), Compression::None);
        assert_eq!(Compression::sniff(&[]), Compression::None);
        assert_eq!(read_all(&[]), b"");
    }

    #[test]
    fn media_types_name_their_compression() {
        let table = [
            ("application/vnd.oci.image.layer.v1.tar", Some(Compression::None)),
            ("application/vnd.oci.image.layer.v1.tar+gzip", Some(Compression::Gzip)),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Some(Compression::Zstd)),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Some(Compression::Gzip),
            ),
            ("application/vnd.docker.image.rootfs.diff.tar.gzip", Some(Compression::Gzip)),
            ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Some(Compression::Gzip)),
            ("application/vnd.oci.image.config.v1+json", None),
            ("application/vnd.oci.image.layer.v1.tar+bzip2", None),
            ("", None),
        ];
        for (media_type, expected) in table {
            assert_eq!(Compression::from_media_type(media_type), expected, "{media_type}");
        }
    }
}
