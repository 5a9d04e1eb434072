//! The attacks on the walls of chapters 1–7 (the root, the namespaces, the
//! limits), and the hostile rootfs: harmless on a real host, where the
//! sandbox suite (`escape_lab`, `hostile_rootfs`) runs them too, and run here
//! against every stage as well, so that the whole table is proved on one
//! machine. The same helpers as in `attacks.rs`.

use super::attacks::VmAttack;

pub const WALLS: &[VmAttack] = &[
    VmAttack {
        name: "chroot-breakout",
        what: "create a file outside the root (chroot again, then `cd ..`)",
        // The rootfs has no /data: only a process at the VM's root creates it.
        setup: "rm -f /data/tincan-breakout",
        run: "run_attack $ROOTFS chroot-breakout /data/tincan-breakout",
        observe: r#"if [ -e /data/tincan-breakout ]; then rm /data/tincan-breakout; verdict escaped; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "see-host-processes",
        what: "find a host process in `/proc` (mounting it if needed)",
        // busybox picks its applet by argv[0]'s last part: this is `sleep`.
        setup: "(exec -a /$MARK/sleep sleep 600) & victim=$!",
        run: "run_attack $ROOTFS see-host-processes /$MARK/sleep",
        observe: r#"kill $victim
case "$line" in *" as pid $victim") verdict escaped saw pid $victim;; *) verdict blocked;; esac"#,
    },
    VmAttack {
        name: "kill-host-process",
        what: "`kill -9` a host process by its PID",
        setup: "sleep 600 & victim=$!",
        run: "run_attack $ROOTFS kill-host-process $victim",
        // A signal is delivered asynchronously: give a killed process time to die.
        observe: r#"sleep 0.5
if alive $victim; then kill $victim; verdict blocked; else verdict escaped pid $victim died; fi"#,
    },
    VmAttack {
        name: "read-host-mounts",
        what: "find a host mount in the mount tables under `/proc`",
        // The attack is told the mount's name, not its place.
        setup: "mkdir -p /tmp/hostmount && mount -t tmpfs hm-$MARK /tmp/hostmount",
        run: "run_attack $ROOTFS read-host-mounts hm-$MARK",
        observe: r#"umount /tmp/hostmount
case "$line" in *" at /tmp/hostmount") verdict escaped found /tmp/hostmount;; *) verdict blocked;; esac"#,
    },
    VmAttack {
        name: "leak-mount",
        what: "mount a tmpfs that the host then sees",
        setup: "",
        run: "run_attack $ROOTFS leak-mount lm-$MARK",
        observe: r#"at=$(awk -v m=lm-$MARK '$0 ~ m { print $5 }' /proc/self/mountinfo)
for m in $at; do umount $m; done
if [ -n "$at" ]; then verdict escaped the VM sees it at $at; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "rename-host",
        what: "change the host's hostname",
        setup: "hostname tincan-vm",
        run: "run_attack $ROOTFS rename-host $MARK",
        observe: r#"name=$(hostname); hostname tincan-vm
if [ "$name" = "$MARK" ]; then verdict escaped the VM is called $name; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "attach-host-shm",
        what: "attach the host's shared memory segment",
        // The segment records the last process that attached it (`lpid`, 0
        // until someone does).
        setup: r#"id=$(ipcmk -M 4096 | sed 's/[^0-9]*//')"#,
        run: "run_attack $ROOTFS attach-host-shm $id",
        observe: r#"lpid=$(awk -v id=$id '$2 == id { print $6 }' /proc/sysvipc/shm); ipcrm -m $id
if [ "${lpid:-0}" != 0 ]; then verdict escaped attached by pid $lpid; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "leak-ipc",
        what: "create IPC objects that the host then sees",
        setup: "key=2119958528",
        run: "run_attack $ROOTFS leak-ipc $key",
        observe: r#"n=$(cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | awk -v k=$key '$1 == k' | wc -l)
ipcrm -M $key -S $key -Q $key 2> /dev/null
if [ "$n" -gt 0 ]; then verdict escaped $n objects with key $key; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "reach-host-loopback",
        what: "talk to a service on the host's `127.0.0.1`",
        // busybox's nc listens on every address (the attack asks only
        // 127.0.0.1); for each client it runs /tmp/serve, which tells the
        // secret and leaves the observer its note.
        setup: r#"printf '#!/bin/sh\necho %s\necho client > /tmp/seen\n' "$SECRET" > /tmp/serve; chmod +x /tmp/serve
nc -l -p 7070 -e /tmp/serve & service=$!
for i in $(seq 50); do awk '$2 ~ /:1B9E$/ && $4 == "0A"' /proc/net/tcp | grep -q . && break; sleep 0.1; done"#,
        run: "run_attack $ROOTFS reach-host-loopback 7070",
        observe: r#"kill $service 2> /dev/null; rm -f /tmp/serve
if [ -s /tmp/seen ]; then verdict escaped the service had a client; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "exhaust-memory",
        what: "take 256 MiB of the host's memory",
        // The largest resident memory of the run's processes, as the kernel
        // tells the process that waits for them (`wait4(2)`), which `time` is.
        // busybox's `time` takes the kernel's KiB for pages, and so says four
        // times too much (4 KiB pages).
        setup: r#"WRAP="time -o /tmp/rss -f %M""#,
        run: "run_attack $ROOTFS exhaust-memory 256",
        observe: r#"rss=$(( $(tail -n 1 /tmp/rss 2> /dev/null || echo 0) / 4 )); rm -f /tmp/rss
if [ "${rss:-0}" -ge 262144 ]; then verdict escaped held $rss KiB; else verdict blocked at most $rss KiB; fi"#,
    },
    VmAttack {
        name: "fork-bomb",
        what: "start 256 processes",
        // The most processes of this bomb the VM's process table held at once
        // (the bomb holds them a moment; its argv carries the mark).
        setup: r#"echo 0 > /tmp/seen
watch() { n=$(grep -l "$MARK" /proc/[0-9]*/cmdline 2> /dev/null | wc -l); [ "$n" -gt "$(cat /tmp/seen)" ] && echo $n > /tmp/seen; }"#,
        run: "run_attack $ROOTFS fork-bomb 256 $MARK",
        observe: r#"most=$(cat /tmp/seen)
if [ "$most" -gt 256 ]; then verdict escaped $most at once; else verdict blocked at most $most at once; fi"#,
    },
    VmAttack {
        name: "symlink-rootfs",
        what: "make the runtime write or mount through a rootfs's links to host paths",
        // Three rootfs, each with one part a link to the VM's own (`proc`,
        // `dev`, the three files of `etc` a network writes): the container may
        // run or refuse; the VM's files must stay as they were, unmounted.
        setup: r#"mkdir -p /data/host/proc /data/host/dev
for f in hosts hostname resolv.conf; do echo "$SECRET" > /data/host/$f; done
hostile() {
  rm -rf /data/hostile; cp -a /rootfs /data/hostile
  for p in "$@"; do rm -rf /data/hostile/$p; ln -s /data/host/${p#etc/} /data/hostile/$p; done
}"#,
        run: r#"for part in proc dev 'etc/hosts etc/hostname etc/resolv.conf'; do
  hostile $part
  $STAGE /data/hostile $probe report > /dev/null 2> /tmp/err < /dev/null
  echo "$part: exit $? $(head -c 200 /tmp/err | tr '\n' ' ')"
done
line="TRIED: a rootfs with links to the host's paths"; echo "line: $line""#,
        observe: r#"changed=
for f in hosts hostname resolv.conf; do [ "$(cat /data/host/$f)" = "$SECRET" ] || changed="$changed $f"; done
for d in proc dev; do [ -z "$(ls -A /data/host/$d)" ] || changed="$changed $d"; done
mounts=$(awk '$5 ~ /^\/data\/host/ { print $5 }' /proc/self/mountinfo)
for m in $mounts; do umount -l $m; done
rm -rf /data/hostile /data/host
if [ -n "$changed$mounts" ]; then verdict escaped changed:$changed mounted: $mounts; else verdict blocked; fi"#,
    },
];
