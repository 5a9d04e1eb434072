//! Platforms: which of an image's builds this machine can run.
//!
//! `alpine` is not one image but one per platform: `linux/amd64`,
//! `linux/arm64/v8`, `linux/arm/v7`… A registry answers a pull with an **index**
//! (Docker calls it a manifest list) whose entries each name a manifest and the
//! platform it was built for; the client picks its own. The names are Go's
//! (`GOOS`/`GOARCH`), because Docker is written in Go: `amd64`, not `x86_64`.
//!
//! The **variant** says which generation of a CPU family: an ARMv6 board cannot
//! run ARMv7 code, but an ARMv7 one runs ARMv6 code. A missing variant means the
//! family's usual one (`arm64` is `arm64/v8`, `arm` is `arm/v7`), so we compare
//! platforms after spelling that default out, as containerd does. And, as
//! containerd does, a CPU that finds no build of its own generation takes the
//! newest older one it can still run.
//!
//! Indexes built by BuildKit also hold **attestations** (provenance, SBOMs): not
//! images, listed with the platform `unknown/unknown`. They never match.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::Descriptor;

/// An OS, an architecture and maybe a variant, in Go's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlatformError {
    #[error(
        "{0:?} is not a platform: expected OS/ARCH or OS/ARCH/VARIANT, like linux/amd64 or linux/arm/v7"
    )]
    Malformed(String),
}

impl Platform {
    /// The platform of this machine (of this binary, strictly: a 32-bit tincan
    /// on a 64-bit kernel asks for 32-bit images).
    pub fn host() -> Platform {
        let arch = go_arch(std::env::consts::ARCH, cfg!(target_endian = "little"));
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: arch.to_owned(),
            variant: None,
        }
    }

    /// Whether an index entry's platform is exactly this one (defaults spelled
    /// out on both sides; an `unknown` OS never matches).
    pub fn matches(&self, platform: &oci_spec::image::Platform) -> bool {
        let os = platform.os().to_string();
        let theirs =
            normalise(&os, &platform.architecture().to_string(), platform.variant().as_deref());
        os != "unknown"
            && theirs == normalise(&self.os, &self.architecture, self.variant.as_deref())
    }

    /// This platform, then the older ones its CPU also runs, best first:
    /// `arm/v7` → `arm/v6` → `arm/v5`; `amd64/v3` → `amd64/v2` → `amd64/v1`.
    fn acceptable(&self) -> Vec<Platform> {
        let (os, architecture, variant) =
            normalise(&self.os, &self.architecture, self.variant.as_deref());
        let oldest = match architecture.as_str() {
            "arm" => 5,
            "amd64" => 1,
            _ => u32::MAX,
        };
        let newest = variant.strip_prefix('v').and_then(|v| v.parse::<u32>().ok());
        let older = newest.filter(|n| *n > oldest).map_or(0..0, |n| oldest..n);
        let mut all = vec![Platform {
            os: os.clone(),
            architecture: architecture.clone(),
            variant: Some(variant),
        }];
        all.extend(older.rev().map(|n| Platform {
            os: os.clone(),
            architecture: architecture.clone(),
            variant: Some(format!("v{n}")),
        }));
        all
    }
}

/// The manifest in an index for `wanted`: an exact match (defaults spelled
/// out) first, else the newest older variant the CPU runs. Entries without a
/// platform, and attestations (`unknown`), are never chosen.
pub fn select<'a>(wanted: &Platform, manifests: &'a [Descriptor]) -> Option<&'a Descriptor> {
    wanted.acceptable().iter().find_map(|candidate| {
        manifests.iter().find(|m| m.platform().as_ref().is_some_and(|p| candidate.matches(p)))
    })
}

/// Go's name for a Rust `target_arch` (`std::env::consts::ARCH`).
fn go_arch(rust_arch: &str, little_endian: bool) -> &str {
    match (rust_arch, little_endian) {
        ("x86_64", _) => "amd64",
        ("x86", _) => "386",
        ("aarch64", true) => "arm64",
        ("aarch64", false) => "arm64be",
        ("powerpc64", true) => "ppc64le",
        ("powerpc64", false) => "ppc64",
        ("powerpc", _) => "ppc",
        ("mips", true) => "mipsle",
        ("mips64", true) => "mips64le",
        ("loongarch64", _) => "loong64",
        // arm, riscv64, s390x, sparc64, mips (big-endian)…: the same in both.
        (same, _) => same,
    }
}

/// Lowercase, Go's architecture names, and the variant's default made
/// explicit (containerd's `normalizeArch`, with "v1"/"v8"/"v7" kept rather
/// than dropped, so that "no variant" and "the default one" compare equal).
fn normalise(os: &str, architecture: &str, variant: Option<&str>) -> (String, String, String) {
    let variant = variant.unwrap_or_default().to_ascii_lowercase();
    let (architecture, variant) =
        match (architecture.to_ascii_lowercase().as_str(), variant.as_str()) {
            ("i386", _) => ("386", String::new()),
            ("x86_64" | "x86-64" | "amd64", "") => ("amd64", "v1".to_owned()),
            ("x86_64" | "x86-64" | "amd64", _) => ("amd64", variant),
            ("aarch64" | "arm64", "" | "8" | "v8") => ("arm64", "v8".to_owned()),
            ("aarch64" | "arm64", _) => ("arm64", variant),
            ("armhf", _) => ("arm", "v7".to_owned()),
            ("armel", _) => ("arm", "v6".to_owned()),
            ("arm", "" | "7") => ("arm", "v7".to_owned()),
            ("arm", "5" | "6" | "8") => ("arm", format!("v{variant}")),
            (other, _) => return (os.to_ascii_lowercase(), other.to_owned(), variant),
        };
    (os.to_ascii_lowercase(), architecture.to_owned(), variant)
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(text: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = text.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(PlatformError::Malformed(text.to_owned()));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts[1].to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(variant) => write!(f, "/{variant}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ImageIndex;

    /// An index as Docker Hub serves it for a multi-platform image built with
    /// BuildKit: each image entry followed by its attestation.
    fn index(platforms: &[&str]) -> Vec<Descriptor> {
        let entry = |i: usize, platform: &str| {
            let mut parts = platform.split('/');
            let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
            let variant = variant.map(|v| format!(r#","variant":"{v}""#)).unwrap_or_default();
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":{i},"digest":"sha256:{i:064}","platform":{{"os":"{}","architecture":"{}"{variant}}}}}"#,
                os.unwrap_or_default(),
                arch.unwrap_or_default()
            )
        };
        let manifests: Vec<String> =
            platforms.iter().enumerate().map(|(i, p)| entry(i, p)).collect();
        let json = format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, manifests.join(","));
        serde_json::from_str::<ImageIndex>(&json).unwrap().manifests().clone()
    }

    fn chosen(wanted: &str, platforms: &[&str]) -> Option<usize> {
        let manifests = index(platforms);
        let choice = select(&wanted.parse().unwrap(), &manifests)?;
        Some(choice.size() as usize)
    }

    #[test]
    fn selects_as_docker_would() {
        let hub =
            ["unknown/unknown", "linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8"];
        let table: [(&str, &[&str], Option<usize>); 11] = [
            ("linux/amd64", &hub, Some(1)),
            ("linux/arm64", &hub, Some(4)),
            ("linux/arm64/v8", &["linux/arm64"], Some(0)),
            ("linux/arm", &hub, Some(3)),
            ("linux/arm/v6", &hub, Some(2)),
            ("linux/arm/v7", &["linux/arm/v5", "linux/arm/v6"], Some(1)),
            ("linux/arm/v6", &["linux/arm/v7"], None),
            ("linux/amd64/v3", &["linux/amd64/v2", "linux/amd64"], Some(0)),
            ("linux/amd64", &["linux/amd64/v2"], None),
            ("linux/s390x", &hub, None),
            ("unknown/unknown", &hub, None),
        ];
        for (wanted, platforms, expected) in table {
            assert_eq!(chosen(wanted, platforms), expected, "{wanted} from {platforms:?}");
        }
    }

    #[test]
    fn an_entry_without_a_platform_never_matches() {
        let json = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}"#;
        let manifests = serde_json::from_str::<ImageIndex>(json).unwrap().manifests().clone();
        assert_eq!(select(&Platform::host(), &manifests), None);
    }

    #[test]
    fn parses_and_prints_go_names() {
        for text in ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64"] {
            assert_eq!(text.parse::<Platform>().unwrap().to_string(), text);
        }
        for bad in ["linux", "linux/", "/amd64", "linux/arm/v7/extra", ""] {
            assert_eq!(bad.parse::<Platform>(), Err(PlatformError::Malformed(bad.into())), "{bad}");
        }
    }

    #[test]
    fn rust_architectures_get_go_names() {
        let table = [
            ("x86_64", true, "amd64"),
            ("aarch64", true, "arm64"),
            ("arm", true, "arm"),
            ("x86", true, "386"),
            ("powerpc64", true, "ppc64le"),
            ("powerpc64", false, "ppc64"),
            ("s390x", false, "s390x"),
            ("riscv64", true, "riscv64"),
            ("loongarch64", true, "loong64"),
            ("mips64", true, "mips64le"),
        ];
        for (rust, little, go) in table {
            assert_eq!(go_arch(rust, little), go, "{rust}");
        }
        assert_eq!(Platform::host().os, "linux");
    }
}
