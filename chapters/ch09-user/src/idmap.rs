//! ID maps: which user and group IDs of the container are which on the host.
//!
//! A user namespace starts with no IDs at all: every ID inside is the
//! "overflow" ID 65534 (nobody) until the runtime writes the namespace's
//! `/proc/PID/uid_map` and `gid_map`. Each line of a map says "these COUNT IDs,
//! from INSIDE in the namespace, are the IDs from OUTSIDE in the parent
//! namespace": `0 100000 65536` makes the container's root (0) the host's
//! 100000, its 1000 the host's 101000. An ID that no line names does not exist
//! inside: files owned by it show as nobody, and no process can become it.
//!
//! The kernel checks a map when it is written, once and for ever (a map cannot
//! be changed): no two lines may overlap, inside or outside, and there may be
//! at most 340 lines (Linux 4.15; 5 before). We check the same things before
//! anything is made, to say what is wrong in words instead of "Invalid
//! argument", and one more thing of our own: the container's root, 0 inside,
//! must be mapped, since the container's first process becomes it.
//!
//! Man pages: `man 7 user_namespaces` ("User and group ID mappings"),
//! `man 5 subuid`.

use std::fmt;

/// The most lines a map may have (`UID_GID_MAP_MAX_EXTENTS`, Linux 4.15).
pub const MAX_LINES: usize = 340;

/// One line of a map: `count` IDs from `inside` are the host's from `outside`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// Which IDs a map is about, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    /// The option that gives such a map.
    pub fn option(self) -> &'static str {
        match self {
            Kind::User => "--uidmap",
            Kind::Group => "--gidmap",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error("{0:?} is not a map: write CONTAINER:HOST:COUNT, like 0:100000:65536")]
    Syntax(String),
    #[error("{0:?}: a map of 0 IDs maps nothing: give a COUNT of 1 or more")]
    Empty(String),
    #[error("{0:?} runs past the last ID (4294967294): make it shorter")]
    TooLong(String),
    #[error("{option} {a} and {b} overlap {side} the container: each ID may be mapped once")]
    Overlap { option: &'static str, a: IdRange, b: IdRange, side: &'static str },
    #[error("{option}: {lines} lines are more than the kernel takes ({MAX_LINES})")]
    TooMany { option: &'static str, lines: usize },
    #[error(
        "{option} does not map the container's 0: its root must be someone on the host (add 0:HOST:COUNT)"
    )]
    NoRoot { option: &'static str },
}

impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}:{}", self.inside, self.outside, self.count)
    }
}

impl IdRange {
    /// `CONTAINER:HOST:COUNT`, as `--uidmap` and `--gidmap` take it (podman's form).
    pub fn parse(text: &str) -> Result<IdRange, MapError> {
        let syntax = || MapError::Syntax(text.to_owned());
        let mut parts = text.split(':').map(|n| n.trim().parse::<u32>().map_err(|_| syntax()));
        let (Some(inside), Some(outside), Some(count), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(syntax());
        };
        let range = IdRange { inside: inside?, outside: outside?, count: count? };
        if range.count == 0 {
            return Err(MapError::Empty(text.to_owned()));
        }
        // u32::MAX is (uid_t)-1, "no ID": no range may reach it, on either side.
        let last = |start: u32| start.checked_add(range.count - 1).filter(|&l| l < u32::MAX);
        if last(range.inside).is_none() || last(range.outside).is_none() {
            return Err(MapError::TooLong(text.to_owned()));
        }
        Ok(range)
    }

    /// The host's ID for `inside`, if this line maps it.
    pub fn to_host(&self, inside: u32) -> Option<u32> {
        let offset = inside.checked_sub(self.inside).filter(|&o| o < self.count)?;
        Some(self.outside + offset)
    }
}

// ANCHOR: map
/// A whole map, checked: what is written to `/proc/PID/uid_map` or `gid_map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap {
    kind: Kind,
    ranges: Vec<IdRange>,
}

impl IdMap {
    /// Check `ranges` as the kernel will, and that the container's 0 is mapped.
    pub fn new(kind: Kind, ranges: Vec<IdRange>) -> Result<IdMap, MapError> {
        let option = kind.option();
        if ranges.len() > MAX_LINES {
            return Err(MapError::TooMany { option, lines: ranges.len() });
        }
        let overlap =
            |a: u32, b: u32, n: u32, m: u32| a < b.saturating_add(m) && b < a.saturating_add(n);
        for (i, a) in ranges.iter().enumerate() {
            for b in &ranges[i + 1..] {
                let side = if overlap(a.inside, b.inside, a.count, b.count) {
                    "inside"
                } else if overlap(a.outside, b.outside, a.count, b.count) {
                    "outside"
                } else {
                    continue;
                };
                return Err(MapError::Overlap { option, a: *a, b: *b, side });
            }
        }
        let map = IdMap { kind, ranges };
        if map.to_host(0).is_none() {
            return Err(MapError::NoRoot { option });
        }
        Ok(map)
    }

    /// The host's ID for the container's `inside`, if mapped.
    pub fn to_host(&self, inside: u32) -> Option<u32> {
        self.ranges.iter().find_map(|r| r.to_host(inside))
    }

    /// The host's ID of the container's root.
    pub fn root(&self) -> u32 {
        self.to_host(0).expect("checked in IdMap::new")
    }

    pub fn ranges(&self) -> &[IdRange] {
        &self.ranges
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The text the kernel reads: one `INSIDE OUTSIDE COUNT` line per range,
    /// written in a single `write(2)` (a second write is refused).
    pub fn proc_text(&self) -> String {
        self.ranges.iter().map(|r| format!("{} {} {}\n", r.inside, r.outside, r.count)).collect()
    }
}
// ANCHOR_END: map

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> IdRange {
        IdRange::parse(text).unwrap()
    }

    #[test]
    fn a_range_is_container_host_count() {
        assert_eq!(range("0:100000:65536"), IdRange { inside: 0, outside: 100000, count: 65536 });
        assert_eq!(range("0:100000:65536").to_host(1000), Some(101000));
        assert_eq!(range("0:100000:65536").to_host(65536), None);
    }

    #[test]
    fn malformed_ranges_say_what_a_range_looks_like() {
        for text in ["", "0:1", "0:1:2:3", "a:1:2", "-1:0:1", "0:100000"] {
            let error = IdRange::parse(text).unwrap_err();
            assert_eq!(error, MapError::Syntax(text.to_owned()));
            assert!(error.to_string().contains("CONTAINER:HOST:COUNT"), "{error}");
        }
        assert_eq!(IdRange::parse("0:1:0"), Err(MapError::Empty("0:1:0".into())));
    }

    #[test]
    fn a_range_may_not_reach_the_id_that_means_none() {
        assert!(IdRange::parse("0:4294967294:1").is_ok());
        assert_eq!(
            IdRange::parse("0:4294967294:2"),
            Err(MapError::TooLong("0:4294967294:2".into()))
        );
        assert!(IdRange::parse("4294967295:0:1").is_err());
    }

    #[test]
    fn overlapping_lines_are_refused_on_either_side() {
        let inside = IdMap::new(Kind::User, vec![range("0:1000:10"), range("5:2000:10")]);
        let error = inside.unwrap_err().to_string();
        assert_eq!(
            error,
            "--uidmap 0:1000:10 and 5:2000:10 overlap inside the container: each ID may be mapped once"
        );
        let outside = IdMap::new(Kind::Group, vec![range("0:1000:10"), range("10:1009:1")]);
        assert!(
            outside
                .unwrap_err()
                .to_string()
                .contains("--gidmap 0:1000:10 and 10:1009:1 overlap outside")
        );
        assert!(IdMap::new(Kind::User, vec![range("0:1000:10"), range("10:1010:10")]).is_ok());
    }

    #[test]
    fn the_container_root_must_be_mapped() {
        let error = IdMap::new(Kind::User, vec![range("1:100000:10")]).unwrap_err();
        assert_eq!(error, MapError::NoRoot { option: "--uidmap" });
    }

    #[test]
    fn more_lines_than_the_kernel_takes_are_refused() {
        let ranges: Vec<_> = (0..=MAX_LINES as u32)
            .map(|n| IdRange { inside: n, outside: 100000 + n, count: 1 })
            .collect();
        let error = IdMap::new(Kind::User, ranges.clone()).unwrap_err();
        assert_eq!(error, MapError::TooMany { option: "--uidmap", lines: MAX_LINES + 1 });
        assert!(IdMap::new(Kind::User, ranges[..MAX_LINES].to_vec()).is_ok());
    }

    #[test]
    fn the_kernel_reads_one_line_per_range() {
        let map = IdMap::new(Kind::User, vec![range("0:1000:1"), range("1:100000:65536")]).unwrap();
        assert_eq!(map.proc_text(), "0 1000 1\n1 100000 65536\n");
        assert_eq!(map.root(), 1000);
        assert_eq!(map.to_host(2), Some(100001));
    }
}
