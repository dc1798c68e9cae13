//! The release artifacts `ci/release/build.sh` writes into target/dist/:
//! the binary runs on glibc 2.17 and newer (no symbol version above
//! GLIBC_2.17 in its ELF version needs), reports its build, and the
//! packages hold what the issue lists. Skips when dist/ is not built;
//! required under KRC_REQUIRE_LAB=1 (`.ci/run` runs build.sh first).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

const TRIPLE: &str = "x86_64-unknown-linux-gnu";
const FLOOR: (u32, u32) = (2, 17);

fn dist() -> PathBuf {
    support::repo().join("target/dist")
}

/// The glibc symbol versions an ELF file needs (`GLIBC_2.17` -> (2, 17)),
/// read from its `.gnu.version_r` section: what the dynamic loader
/// checks, whatever symbol asks for it. Our own reader, so the test does
/// not depend on binutils' output format.
fn glibc_needs(elf: &[u8]) -> Vec<(u32, u32, String)> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF file");
    assert_eq!(elf[5], 1, "not a little-endian ELF file");
    let (shoff, shentsize, shnum) = (u64_at(0x28), u16_at(0x3a) as usize, u16_at(0x3c) as usize);
    let section = |i: usize| {
        let h = shoff + i * shentsize;
        // (type, offset, size, link, info)
        (
            u32_at(h + 4),
            u64_at(h + 0x18),
            u64_at(h + 0x20),
            u32_at(h + 0x28) as usize,
            u32_at(h + 0x2c),
        )
    };
    const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
    let mut out = Vec::new();
    for i in 0..shnum {
        let (ty, off, _, link, count) = section(i);
        if ty != SHT_GNU_VERNEED {
            continue;
        }
        let strtab = section(link).1;
        let name_at = |o: usize| {
            let s = &elf[strtab + o..];
            String::from_utf8_lossy(&s[..s.iter().position(|&b| b == 0).unwrap()]).into_owned()
        };
        let mut need = off;
        for _ in 0..count {
            let (cnt, aux, next) = (
                u16_at(need + 2),
                u32_at(need + 8) as usize,
                u32_at(need + 12) as usize,
            );
            let mut a = need + aux;
            for _ in 0..cnt {
                let name = name_at(u32_at(a + 8) as usize);
                if let Some(v) = name.strip_prefix("GLIBC_") {
                    let mut parts = v.split('.').map(|p| p.parse::<u32>());
                    if let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) {
                        out.push((major, minor, name.clone()));
                    }
                }
                a += u32_at(a + 12) as usize;
            }
            need += next;
        }
    }
    out
}

/// The names in `needs` above the floor, e.g. `["GLIBC_2.34"]`.
fn above_floor(needs: &[(u32, u32, String)]) -> Vec<String> {
    let mut over: Vec<String> = needs
        .iter()
        .filter(|(ma, mi, _)| (*ma, *mi) > FLOOR)
        .map(|(_, _, n)| n.clone())
        .collect();
    over.sort();
    over.dedup();
    over
}

/// The binary out of the release tarball, into `tmp`: the bytes users get.
fn dist_binary(tmp: &Path) -> Option<PathBuf> {
    let name = format!("krc-{}-{TRIPLE}", env!("CARGO_PKG_VERSION"));
    let tarball = dist().join(format!("{name}.tar.gz"));
    if !tarball.exists() {
        return None;
    }
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(tmp)
        .arg(format!("{name}/krc"))
        .status()
        .unwrap();
    assert!(
        st.success(),
        "tar could not extract {name}/krc from {}",
        tarball.display()
    );
    Some(tmp.join(name).join("krc"))
}

#[test]
fn the_reader_sees_a_newer_glibc_in_a_host_build() {
    // This test binary is linked against the build host's glibc (2.36 on
    // Debian 12): Rust's std then needs GLIBC_2.34 (__libc_start_main),
    // so the check below cannot pass by reading nothing.
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let needs = glibc_needs(&me);
    assert!(
        needs.iter().any(|(ma, mi, _)| (*ma, *mi) <= FLOOR),
        "no GLIBC_ version read: {needs:?}"
    );
    let libc_here = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    let here = libc_here.to_str().unwrap().to_string();
    let mut v = here.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    if (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (2, 34) {
        assert!(
            !above_floor(&needs).is_empty(),
            "a glibc {here} build needs nothing above 2.17? {needs:?}"
        );
    }
}

#[test]
fn the_dist_binary_needs_no_glibc_above_2_17() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(bin) = dist_binary(tmp.path()) else {
        lab_skip!("target/dist has no release tarball; build it: bash ci/release/build.sh");
    };
    let needs = glibc_needs(&std::fs::read(&bin).unwrap());
    assert!(
        !needs.is_empty(),
        "{} needs no GLIBC_ version at all: not a glibc build?",
        bin.display()
    );
    let over = above_floor(&needs);
    assert!(
        over.is_empty(),
        "the release binary needs {over:?}, above GLIBC_2.17: it will not start on older distributions. \
         Find the symbols with `readelf --dyn-syms -W {} | grep -E 'GLIBC_2\\.(1[89]|[2-9][0-9])'` \
         and call them through libc::syscall instead of the libc wrapper",
        bin.display()
    );
}

#[test]
fn the_dist_binary_reports_its_build() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(bin) = dist_binary(tmp.path()) else {
        lab_skip!("target/dist has no release tarball; build it: bash ci/release/build.sh");
    };
    let out = Command::new(&bin).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.starts_with(&format!("krc {} (", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let out = Command::new(&bin).arg("-vV").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for line in [
        format!("target: {TRIPLE}"),
        "glibc floor: 2.17".to_string(),
        "build date: ".into(),
    ] {
        assert!(text.contains(&line), "`krc -vV` lacks {line:?}:\n{text}");
    }
    // The release was built from a preflight-able binary: a fixture host.
    let st = Command::new(&bin)
        .args(["preflight", "--root"])
        .arg(support::repo().join("fixtures/hosts/ready-v2"))
        .output()
        .unwrap();
    assert!(
        st.status.code().is_some_and(|c| c <= 1),
        "krc preflight --root fixtures/hosts/ready-v2 ended {:?}: {}",
        st.status,
        String::from_utf8_lossy(&st.stderr)
    );
}

#[test]
fn the_packages_hold_binary_man_pages_completions_and_sums() {
    let v = env!("CARGO_PKG_VERSION");
    let deb = dist().join(format!("krc_{v}_amd64.deb"));
    let rpm = dist().join(format!("krc-{v}-1.x86_64.rpm"));
    if !deb.exists() || !rpm.exists() {
        lab_skip!("target/dist has no .deb/.rpm; build them: bash ci/release/build.sh");
    }
    let st = Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(dist())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "sha256sum -c SHA256SUMS failed: {}",
        String::from_utf8_lossy(&st.stdout)
    );
    let sums = std::fs::read_to_string(dist().join("SHA256SUMS")).unwrap();
    assert_eq!(
        sums.lines().count(),
        3,
        "SHA256SUMS should cover the tarball, the .deb and the .rpm:\n{sums}"
    );

    let list = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let debs = list(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let mut wanted = vec![
        "./usr/bin/krc".to_string(),
        "./usr/share/man/man1/krc.1.gz".into(),
        "./usr/share/bash-completion/completions/krc".into(),
        "./usr/share/zsh/vendor-completions/_krc".into(),
        "./usr/share/fish/vendor_completions.d/krc.fish".into(),
        "./usr/share/doc/krc/copyright".into(),
    ];
    for sub in support::subcommands() {
        wanted.push(format!("./usr/share/man/man1/krc-{sub}.1.gz"));
    }
    for w in &wanted {
        assert!(
            debs.lines().any(|l| l.ends_with(w.as_str())),
            "the .deb lacks {w}:\n{debs}"
        );
    }
    assert!(
        !debs.contains("__"),
        "the .deb ships a page for a hidden subcommand:\n{debs}"
    );
    if support::have("rpm") {
        let rpms = list(Command::new("rpm").arg("-qlp").arg(&rpm));
        for w in [
            "/usr/bin/krc",
            "/usr/share/man/man1/krc.1.gz",
            "/usr/share/zsh/site-functions/_krc",
        ] {
            assert!(rpms.lines().any(|l| l == w), "the .rpm lacks {w}:\n{rpms}");
        }
    }
}

#[test]
fn version_names_the_commit_and_minus_vv_the_build() {
    let run = |args: &[&str]| {
        let out = support::krc().args(args).output().unwrap();
        assert!(out.status.success(), "krc {args:?}: {:?}", out.status);
        String::from_utf8(out.stdout).unwrap()
    };
    let short = run(&["--version"]);
    assert!(
        short.starts_with(&format!("krc {} (", env!("CARGO_PKG_VERSION"))),
        "{short}"
    );
    assert_eq!(short.lines().count(), 1, "{short}");
    let long = run(&["-vV"]);
    assert_eq!(long, run(&["version", "--verbose"]));
    assert_eq!(long.lines().next(), short.lines().next());
    for key in ["target: ", "glibc floor: ", "build date: ", "features: "] {
        assert!(long.contains(key), "`krc -vV` lacks {key:?}:\n{long}");
    }
    // The generator is for build.sh, not for users.
    assert!(!run(&["--help"]).contains("__generate"));
}
