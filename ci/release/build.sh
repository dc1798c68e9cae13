#!/usr/bin/env bash
# Builds krc's release artifacts into target/dist/:
#   krc-VERSION-x86_64-unknown-linux-gnu.tar.gz  binary, man pages, completions, README, LICENSE
#   krc_VERSION_amd64.deb                         checked with lintian (errors fail the build)
#   krc-VERSION-1.x86_64.rpm
#   SHA256SUMS                                    over the three
# The binary is linked against glibc 2.17 (cargo-zigbuild), so it runs on
# every glibc distribution from 2014 on; tests/release.rs checks its symbols.
# Idempotent: run it again and it rebuilds dist/ from scratch (cargo and the
# tools are cached). Needs no network beyond the package registries: the
# tools (ziglang, cargo-zigbuild) go into a venv from PyPI, and as root the
# Debian packages (lintian, rpm, python3-venv) are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

floor=2.17
triple=x86_64-unknown-linux-gnu
# Pinned, so that two runs build with the same linker.
zigbuild_version=0.24.1
zig_version=0.17.1
tools=${KRC_RELEASE_TOOLS:-$HOME/.cache/krc-release-tools}
# Who the packages name as maintainer: set it for a published release.
maintainer=${KRC_MAINTAINER:-krc maintainers <krc-maintainers@example.org>}

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || die "no version = \"...\" line in Cargo.toml; run from a krc checkout"

# Debian packages: installed when missing and root; otherwise say what to run.
missing=()
command -v lintian >/dev/null || missing+=(lintian)
command -v rpmbuild >/dev/null || missing+=(rpm)
command -v readelf >/dev/null || missing+=(binutils)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  else
    die "missing ${missing[*]}; install them: sudo apt-get install -y ${missing[*]}"
  fi
fi

# ziglang and cargo-zigbuild from PyPI, in a venv of their own (Debian's
# system Python refuses pip installs), reused while the pins match.
stamp="$tools/krc-pins"
want="ziglang==$zig_version cargo-zigbuild==$zigbuild_version"
if [ ! -x "$tools/bin/cargo-zigbuild" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing $want into $tools"
  rm -rf "$tools"
  python3 -m venv "$tools"
  # shellcheck disable=SC2086 # $want is two requirement words
  "$tools/bin/pip" install -q --disable-pip-version-check $want
  printf '%s' "$want" >"$stamp"
fi
export PATH="$tools/bin:$PATH"

# Reproducible: the commit's time, unless the caller set one.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
export KRC_GLIBC_FLOOR=$floor
target_dir=${CARGO_TARGET_DIR:-$root/target}
log "cargo zigbuild --release --target $triple.$floor (krc $version)"
cargo zigbuild --release --locked --target "$triple.$floor"
bin="$target_dir/$triple/release/krc"
[ -x "$bin" ] || die "cargo zigbuild finished but $bin is missing; look at the cargo output above"

dist=$root/target/dist
stage=$root/target/release-stage
rm -rf "$dist" "$stage"
mkdir -p "$dist" "$stage"

# Man pages and completions from the binary itself: what ships is what parses.
"$bin" __generate man "$stage/man"
"$bin" __generate completions "$stage/completions"

# Every file the same owner and time, so that two builds give the same bytes.
normalize() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }
tarball() { # DIR NAME OUT: tar DIR/NAME reproducibly into OUT
  tar -C "$1" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 \
    --numeric-owner --format=gnu -cf - "$2" | gzip -9n >"$3"
}

# The tarball.
name=krc-$version-$triple
tdir=$stage/tar/$name
mkdir -p "$tdir/man" "$tdir/completions"
install -m 0755 "$bin" "$tdir/krc"
install -m 0644 "$stage"/man/*.1 "$tdir/man/"
install -m 0644 "$stage"/completions/* "$tdir/completions/"
install -m 0644 README.md LICENSE "$tdir/"
normalize "$tdir"
tarball "$stage/tar" "$name" "$dist/$name.tar.gz"

# The file tree both packages install (FHS paths; zsh's differ per family).
tree() { # ROOT ZSHDIR
  local r=$1
  install -D -m 0755 "$bin" "$r/usr/bin/krc"
  mkdir -p "$r/usr/share/man/man1"
  for page in "$stage"/man/*.1; do
    gzip -9n <"$page" >"$r/usr/share/man/man1/$(basename "$page").gz"
    chmod 0644 "$r/usr/share/man/man1/$(basename "$page").gz"
  done
  install -D -m 0644 "$stage/completions/krc.bash" "$r/usr/share/bash-completion/completions/krc"
  install -D -m 0644 "$stage/completions/_krc" "$r$2/_krc"
  install -D -m 0644 "$stage/completions/krc.fish" "$r/usr/share/fish/vendor_completions.d/krc.fish"
  install -D -m 0644 README.md "$r/usr/share/doc/krc/README.md"
  for doc in docs/*.md; do
    install -D -m 0644 "$doc" "$r/usr/share/doc/krc/$(basename "$doc")"
  done
}

# The .deb, by dpkg-deb from a tree built here (no cargo-deb to compile).
deb=$stage/deb
tree "$deb" /usr/share/zsh/vendor-completions
cat >"$deb/usr/share/doc/krc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: krc

Files: *
Copyright: $(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) the krc authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
# krc install reads /var/lib/dpkg/status to see which packages are
# installed (read only, bounded): on purpose, not a packaging mistake.
install -D -m 0644 /dev/stdin "$deb/usr/share/lintian/overrides/krc" <<'OVERRIDES'
krc: uses-dpkg-database-directly [usr/bin/krc]
OVERRIDES
changelog_date=$(date -u -d "@$SOURCE_DATE_EPOCH" -R)
cat <<CHANGELOG | gzip -9n >"$deb/usr/share/doc/krc/changelog.gz"
krc ($version) unstable; urgency=medium

  * Release $version, built by ci/release/build.sh.

 -- $maintainer  $changelog_date
CHANGELOG
mkdir -p "$deb/DEBIAN"
installed_kb=$(du -sk --exclude=DEBIAN "$deb" | cut -f1)
cat >"$deb/DEBIAN/control" <<CONTROL
Package: krc
Version: $version
Architecture: amd64
Maintainer: $maintainer
Installed-Size: $installed_kb
Depends: libc6 (>= $floor)
Section: admin
Priority: optional
Description: conformance suite and installer for rootless k3s
 krc qualifies a host for rootless k3s (preflight), installs it reversibly,
 and accepts the result, reporting for people (terminal) and for CI
 (JUnit XML, JSON, HTML).
CONTROL
(cd "$deb" && find usr -type f -printf '%P\n' | sort | sed 's|^|usr/|' | xargs md5sum) >"$deb/DEBIAN/md5sums"
chmod 0644 "$deb/DEBIAN/control" "$deb/DEBIAN/md5sums"
find "$deb" -type d -exec chmod 0755 {} +
normalize "$deb"
dpkg-deb --root-owner-group -Zxz --build "$deb" "$dist/krc_${version}_amd64.deb" >/dev/null

# The .rpm: rpmbuild around the same kind of tree. gzip payload, so that
# rpm on the oldest glibc-2.17 systems (EL7) still reads it.
rpmtop=$stage/rpm
rtree=$stage/rpmtree
tree "$rtree" /usr/share/zsh/site-functions
install -D -m 0644 LICENSE "$rtree/usr/share/licenses/krc/LICENSE"
mkdir -p "$rtree/../rpm/SPECS"
cat >"$rpmtop/SPECS/krc.spec" <<SPEC
Name: krc
Version: $version
Release: 1
Summary: Conformance suite and installer for rootless k3s
License: Apache-2.0
Requires: glibc >= $floor

%global debug_package %{nil}
%global __strip /bin/true
%global _build_id_links none

%description
krc qualifies a host for rootless k3s (preflight), installs it reversibly,
and accepts the result, reporting for people (terminal) and for CI
(JUnit XML, JSON, HTML).

%install
cp -a $rtree/. %{buildroot}/

%files
/usr/bin/krc
/usr/share/man/man1/*.1.gz
/usr/share/bash-completion/completions/krc
/usr/share/zsh/site-functions/_krc
/usr/share/fish/vendor_completions.d/krc.fish
%doc /usr/share/doc/krc
%license /usr/share/licenses/krc/LICENSE
SPEC
normalize "$rtree"
rpmbuild -bb --quiet \
  --define "_topdir $rpmtop" \
  --define "_binary_payload w9.gzdio" \
  --define "use_source_date_epoch_as_buildtime 1" \
  --define "clamp_mtime_to_source_date_epoch 1" \
  --define "_buildhost krc-release" \
  --define "__os_install_post %{nil}" \
  "$rpmtop/SPECS/krc.spec" >/dev/null
cp "$rpmtop/RPMS/x86_64/krc-$version-1.x86_64.rpm" "$dist/"

log "lintian $dist/krc_${version}_amd64.deb"
lintian --fail-on error --tag-display-limit 0 "$dist/krc_${version}_amd64.deb" ||
  die "lintian found errors in the .deb (above); fix the package tree in ci/release/build.sh"

(cd "$dist" && sha256sum "$name.tar.gz" "krc_${version}_amd64.deb" "krc-$version-1.x86_64.rpm" >SHA256SUMS)
log "built into $dist:"
(cd "$dist" && ls -l && cat SHA256SUMS) >&2
