//! The book's table of hostile inputs: each case's expected outcome, checked
//! by the tests of `escapes`, `layers` and `registry`, and observed again, for
//! the table, with every image served by the fake registry.

use super::{Outcome, Via, can_run, escapes, layers, registry};

/// One row of the book's table: a hostile input, what it tries, the outcome
/// the tests expect (a note says why), and the function that observes it.
struct Case {
    /// The observing function's name, for [`check`].
    name: &'static str,
    input: &'static str,
    tries: &'static str,
    expected: Outcome,
    note: &'static str,
    observe: fn(Via) -> Outcome,
}

const CASES: [Case; 16] = [
    Case {
        name: "whiteouts",
        input: "`.wh.` whiteouts of a file and a directory, an opaque directory, whiteout and re-add in one layer (both orders, file and directory)",
        tries: "hide, or keep, the lower layers' files",
        expected: Outcome::AsSpecified,
        note: "",
        observe: layers::whiteouts,
    },
    Case {
        name: "names_leading_out",
        input: "entries named `../../../../tmp/x`, `../` (×16) `tmp/y`, `/tmp/z`",
        tries: "write outside the layer's directory",
        expected: Outcome::KeptInside,
        note: "at `/tmp/x` in the container",
        observe: escapes::names_leading_out,
    },
    Case {
        name: "links_leading_out",
        input: "`evil -> /tmp`, `evil2 -> ../../../../tmp`, then `evil/x`, `evil2/y` (the layer has `tmp/`)",
        tries: "write through a symbolic link to the host's `/tmp`",
        expected: Outcome::KeptInside,
        note: "links resolve inside the layer",
        observe: escapes::links_leading_out,
    },
    Case {
        name: "link_leading_nowhere",
        input: "`evil -> /tmp`, then `evil/x` (the layer has no `tmp/`)",
        tries: "the same, where the link leads nowhere inside",
        expected: Outcome::Refused,
        note: "",
        observe: escapes::link_leading_nowhere,
    },
    Case {
        name: "hard_links_out",
        input: "hard link to `/etc/hostname`, or to a host file, by absolute and `../` path",
        tries: "make a host file part of the image",
        expected: Outcome::Refused,
        note: "the host file keeps 1 link",
        observe: escapes::hard_links_out,
    },
    Case {
        name: "devices_and_setuid",
        input: "character device 1:3, FIFO, set-user-ID file",
        tries: "bring devices and privileges",
        expected: Outcome::KeptAsIs,
        note: "nothing defuses them in this chapter (root inside is root outside); chapters 9 and 10, to come, will (user namespaces; the device cgroup and no_new_privs)",
        observe: layers::devices_and_setuid,
    },
    Case {
        name: "bomb",
        input: "gzip bomb: 1 MiB that inflates to 1 GiB, pulled with `--max-layer-size 64m`",
        tries: "fill the disk",
        expected: Outcome::Refused,
        note: "at 64 MiB",
        observe: layers::bomb,
    },
    Case {
        name: "other_bytes",
        input: "a layer blob with other bytes than its digest",
        tries: "swap a layer's content",
        expected: Outcome::Refused,
        note: "",
        observe: registry::other_bytes,
    },
    Case {
        name: "truncated",
        input: "a layer blob shorter than its descriptor says",
        tries: "cut a layer short",
        expected: Outcome::Refused,
        note: "",
        observe: registry::truncated,
    },
    Case {
        name: "extended",
        input: "a layer blob longer than its descriptor says",
        tries: "append to a layer",
        expected: Outcome::Refused,
        note: "",
        observe: registry::extended,
    },
    Case {
        name: "huge_manifest",
        input: "a 256 MiB manifest, with `Content-Length`",
        tries: "exhaust memory",
        expected: Outcome::Refused,
        note: "after 4 MiB",
        observe: registry::huge_manifest,
    },
    Case {
        name: "huge_chunked_manifest",
        input: "a 256 MiB manifest, chunked",
        tries: "exhaust memory, with no length to check",
        expected: Outcome::Refused,
        note: "after 4 MiB",
        observe: registry::huge_chunked_manifest,
    },
    Case {
        name: "huge_config",
        input: "a 256 MiB config",
        tries: "exhaust memory",
        expected: Outcome::Refused,
        note: "after 8 MiB",
        observe: registry::huge_config,
    },
    Case {
        name: "redirect_to_cdn",
        input: "blobs redirected to a CDN on another host, from a registry that wants a password",
        tries: "collect the registry's credentials",
        expected: Outcome::Pulled,
        note: "the CDN saw no `Authorization`",
        observe: registry::redirect_to_cdn,
    },
    Case {
        name: "tag_digest_header_lies",
        input: "by tag: another image's manifest, under the tag's `Docker-Content-Digest`",
        tries: "swap the image behind a tag",
        expected: Outcome::Refused,
        note: "",
        observe: registry::tag_digest_header_lies,
    },
    Case {
        name: "digest_gets_other_bytes",
        input: "by digest: another image's manifest",
        tries: "swap the image behind a digest",
        expected: Outcome::Refused,
        note: "",
        observe: registry::digest_gets_other_bytes,
    },
];

/// Run the case `name` through `via`, and check its outcome is the one expected.
pub fn check(name: &str, via: Via) {
    if !can_run(name, via) {
        return;
    }
    let case = CASES.iter().find(|c| c.name == name).expect("a case of CASES");
    assert_eq!((case.observe)(via), case.expected, "{}", case.input);
}

/// The table for the book: every case run again, each image served by the
/// fake registry, with the outcome each observer saw (which must be the one
/// expected).
pub fn observed() -> String {
    let mut md = "| input | what it tries | outcome |\n|---|---|---|\n".to_owned();
    let mut unexpected = Vec::new();
    for case in &CASES {
        let seen = (case.observe)(Via::Fake);
        if seen != case.expected {
            unexpected.push(format!("{}: {seen:?}, not {:?}", case.name, case.expected));
        }
        let outcome = match case.note {
            "" => seen.text().to_owned(),
            note => format!("{}: {note}", seen.text()),
        };
        md.push_str(&format!("| {} | {} | {outcome} |\n", case.input, case.tries));
    }
    assert!(unexpected.is_empty(), "{unexpected:#?}\n{md}");
    md
}
