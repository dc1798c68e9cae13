//! A property test of the walk (a hand-rolled generator, no dependency):
//! random trees of directories, files and links (absolute, relative, `..`,
//! to `/`, out of the tree, loops) and random paths. Whatever the tree and
//! the path, the layer never opens anything outside a `--root` tree, never
//! follows a link below the home, and never returns the secret kept
//! outside.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};

use super::{Cap, Root, sys};

const SECRET: &[u8] = b"OUTSIDE-THE-TREE";
const NAMES: &[&str] = &["a", "b", "h", "x"];

/// xorshift64*: reproducible from the seed printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn path(&mut self, dotdot: bool) -> String {
        let n = 1 + self.next() % 4;
        let mut p = String::new();
        for _ in 0..n {
            p.push('/');
            let r = self.next() % 8;
            p.push_str(match r {
                0 if dotdot => "..",
                1 => ".",
                _ => self.pick(NAMES),
            });
        }
        p
    }
}

/// Builds a random tree under `tree`; links point anywhere.
fn build(rng: &mut Rng, tree: &Path, outside: &Path) {
    for _ in 0..40 {
        let rel = rng.path(false);
        let p = tree.join(rel.trim_start_matches('/'));
        let Some(parent) = p.parent() else { continue };
        if std::fs::create_dir_all(parent).is_err() || std::fs::symlink_metadata(&p).is_ok() {
            continue;
        }
        let out = outside.display().to_string();
        let targets = [
            "/".to_string(),
            out.clone(),
            format!("{out}/secret"),
            "..".into(),
            "../..".into(),
            "../../../../outside/secret".into(),
            ".".into(),
            p.file_name().unwrap().to_string_lossy().into_owned(),
            rng.path(true),
            format!("{}/x", rng.path(true)),
        ];
        match rng.next() % 3 {
            0 => drop(std::fs::create_dir(&p)),
            1 => drop(std::fs::write(&p, b"inside")),
            _ => {
                let t = &targets[(rng.next() % targets.len() as u64) as usize];
                drop(symlink(t, &p));
            }
        }
    }
}

/// (dev, ino) of everything under `dir`, links not followed.
fn inodes(dir: &Path, out: &mut HashSet<(u64, u64)>) {
    let m = std::fs::symlink_metadata(dir).unwrap();
    out.insert((m.dev(), m.ino()));
    if m.is_dir() {
        for e in std::fs::read_dir(dir).unwrap() {
            inodes(&e.unwrap().path(), out);
        }
    }
}

/// Is any component of `rel` (from `base`, no `..` in it) a link below
/// `home`?
fn link_below(base: &Path, rel: &str, home: &str) -> bool {
    let mut p = PathBuf::from(base);
    let mut host = String::new();
    for c in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        p.push(c);
        host.push('/');
        host.push_str(c);
        if super::root::below(&host, home)
            && std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink())
        {
            return true;
        }
    }
    false
}

#[test]
fn the_walk_never_leaves_the_tree_nor_follows_a_link_below_the_home() {
    let seed0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    // Not vacuous: some opens succeed, some paths cross a link below /h.
    let (mut opened, mut crossed) = (0, 0);
    for round in 0..40 {
        let seed = seed0.wrapping_add(round * 0x9E37_79B9);
        let mut rng = Rng(seed | 1);
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), SECRET).unwrap();
        build(&mut rng, &tree, &outside);
        let mut inside = HashSet::new();
        inodes(&tree, &mut inside);

        let in_tree = Root::open(&tree).unwrap().with_home("/h");
        let tree_top = tree.display().to_string();
        let live = Root::live().unwrap().with_home(&format!("{tree_top}/h"));
        for _ in 0..60 {
            let path = rng.path(true);
            let why = format!("seed {seed}, path {path}");
            for flags in [libc::O_PATH, libc::O_RDONLY | libc::O_NONBLOCK] {
                if let Ok(fd) = in_tree.open_at(&path, flags) {
                    opened += 1;
                    let st = sys::fstat(fd.as_fd()).unwrap();
                    assert!(
                        inside.contains(&(st.st_dev, st.st_ino)),
                        "opened outside the tree: {why}"
                    );
                }
            }
            if let Ok(bytes) = in_tree.read(&path, Cap::Other) {
                assert_ne!(bytes, SECRET, "{why}");
            }
            // Below the home, a path through a link fails, in the tree
            // and on the live host alike.
            // (When /h itself is a link, the names below it lexically are
            // not below it once resolved.)
            let home_real = std::fs::symlink_metadata(tree.join("h")).is_ok_and(|m| m.is_dir());
            if home_real && !path.contains("..") {
                let lexical = link_below(&tree, &path, "/h");
                if lexical {
                    crossed += 1;
                    assert!(in_tree.open_at(&path, libc::O_PATH).is_err(), "{why}");
                    let host = format!("{tree_top}{path}");
                    assert!(live.open_at(&host, libc::O_PATH).is_err(), "live: {why}");
                }
            }
        }
    }
    assert!(
        opened > 0 && crossed > 0,
        "opened {opened}, crossed {crossed}"
    );
}
