//! Template bundles: reading a directory, storing, validating, extracting.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use dayshift_provisioner::bundle::{MAX_FILES, MAX_TOTAL_BYTES};
use dayshift_provisioner::{BundleError, BundleFile, Provisioner, TemplateBundle};

const MANIFEST: &str = "provisioner = \"script\"\n[script]\nstart = \"./start.sh\"\n";

fn file(path: &str, mode: u32, content: &[u8]) -> BundleFile {
    BundleFile {
        path: path.to_string(),
        mode,
        content: content.to_vec(),
    }
}

fn bundle(extra: Vec<BundleFile>) -> TemplateBundle {
    let mut files = vec![file("dayshift.toml", 0o644, MANIFEST.as_bytes())];
    files.extend(extra);
    TemplateBundle { files }
}

fn write(path: &Path, content: &str, mode: u32) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn from_dir_reads_files_with_modes_and_skips_dot_directories() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("dayshift.toml"), MANIFEST, 0o644);
    write(&d.join("start.sh"), "#!/bin/sh\necho hi\n", 0o755);
    write(&d.join("lib/util.sh"), "x=1\n", 0o600);
    write(&d.join(".git/config"), "[core]\n", 0o644);
    write(&d.join(".env"), "A=1\n", 0o644);

    let b = TemplateBundle::from_dir(d).unwrap();
    let paths: Vec<(&str, u32)> = b.files.iter().map(|f| (f.path.as_str(), f.mode)).collect();
    assert_eq!(
        paths,
        vec![
            (".env", 0o644),
            ("dayshift.toml", 0o644),
            ("lib/util.sh", 0o600),
            ("start.sh", 0o755),
        ]
    );
    assert_eq!(b.file("start.sh").unwrap().content, b"#!/bin/sh\necho hi\n");
    let m = b.manifest().unwrap();
    assert!(matches!(m.provisioner, Provisioner::Script(_)));
}

#[test]
fn from_dir_refuses_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("dayshift.toml"), MANIFEST, 0o644);
    symlink("/etc/passwd", d.join("passwd")).unwrap();
    let e = TemplateBundle::from_dir(d).unwrap_err();
    assert_eq!(
        e.to_string(),
        "passwd: is a symbolic link: template directories may hold only regular files and directories"
    );
}

#[test]
fn from_dir_needs_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("start.sh"), "", 0o755);
    let e = TemplateBundle::from_dir(dir.path()).unwrap_err();
    assert!(matches!(e, BundleError::NoManifest));
    assert_eq!(
        e.to_string(),
        "no dayshift.toml at the top of the template directory"
    );
}

#[test]
fn bytes_round_trip() {
    let b = bundle(vec![
        file("start.sh", 0o755, b"#!/bin/sh\nexit 0\n"),
        file("bin/blob", 0o644, &[0, 159, 146, 150, 255]),
    ]);
    let bytes = b.to_bytes().unwrap();
    // JSON with base64 contents, so it fits a text column too.
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.contains("\"path\":\"bin/blob\""), "{text}");
    assert!(text.contains("AJ+Slv8="), "{text}");
    assert_eq!(TemplateBundle::from_bytes(&bytes).unwrap(), b);
}

#[test]
fn from_bytes_refuses_garbage_and_invalid_bundles() {
    assert!(matches!(
        TemplateBundle::from_bytes(b"not json"),
        Err(BundleError::Encoding(_))
    ));
    let bad_base64 = br#"{"files":[{"path":"dayshift.toml","mode":420,"content":"!!"}]}"#;
    assert!(matches!(
        TemplateBundle::from_bytes(bad_base64),
        Err(BundleError::Encoding(_))
    ));
    let escaping = br#"{"files":[{"path":"dayshift.toml","mode":420,"content":""},{"path":"../x","mode":420,"content":""}]}"#;
    assert!(matches!(
        TemplateBundle::from_bytes(escaping),
        Err(BundleError::InvalidPath { .. })
    ));
}

#[test]
fn validate_refuses_bad_paths() {
    let cases = [
        ("../x", "invalid path \"../x\": must not contain .."),
        (
            "a/../../x",
            "invalid path \"a/../../x\": must not contain ..",
        ),
        (
            "/etc/passwd",
            "invalid path \"/etc/passwd\": must be relative",
        ),
        (
            "a//b",
            "invalid path \"a//b\": must be normalised (no empty components)",
        ),
        (
            "a/",
            "invalid path \"a/\": must be normalised (no empty components)",
        ),
        (
            "./a",
            "invalid path \"./a\": must be normalised (no . components)",
        ),
        ("", "invalid path \"\": must not be empty"),
        (
            "a\\..\\b",
            "invalid path \"a\\\\..\\\\b\": must use / as separator, not \\",
        ),
        (
            "a\0b",
            "invalid path \"a\\0b\": must not contain a NUL byte",
        ),
    ];
    for (path, want) in cases {
        let e = bundle(vec![file(path, 0o644, b"")]).validate().unwrap_err();
        assert_eq!(e.to_string(), want, "{path:?}");
    }
}

#[test]
fn validate_refuses_bad_modes_duplicates_and_file_dir_clashes() {
    let e = bundle(vec![file("s.sh", 0o4755, b"")])
        .validate()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"s.sh\": mode 0o4755 is not allowed: only permission bits (at most 0o777)"
    );
    let e = bundle(vec![file("a", 0o644, b""), file("a", 0o644, b"")])
        .validate()
        .unwrap_err();
    assert_eq!(e.to_string(), "\"a\" appears twice");
    let e = bundle(vec![file("a", 0o644, b""), file("a/b/c", 0o644, b"")])
        .validate()
        .unwrap_err();
    assert_eq!(e.to_string(), "\"a\" is both a file and a directory");
}

#[test]
fn validate_enforces_limits() {
    let many: Vec<BundleFile> = (0..MAX_FILES)
        .map(|i| file(&format!("f{i}"), 0o644, b""))
        .collect();
    let e = bundle(many).validate().unwrap_err();
    assert_eq!(e.to_string(), "too many files: 1001, at most 1000 allowed");

    let big = vec![0u8; MAX_TOTAL_BYTES];
    let e = bundle(vec![file("big", 0o644, &big)])
        .validate()
        .unwrap_err();
    assert!(matches!(e, BundleError::TooLarge { .. }), "{e}");
    assert!(e.to_string().ends_with("; the limit is 16 MiB"), "{e}");

    let fits = vec![0u8; MAX_TOTAL_BYTES - MANIFEST.len()];
    bundle(vec![file("big", 0o644, &fits)]).validate().unwrap();
}

#[test]
fn manifest_errors_name_the_file() {
    let b = TemplateBundle {
        files: vec![file("dayshift.toml", 0o644, b"provisioner = \"docker\"\n")],
    };
    assert_eq!(
        b.manifest().unwrap_err().to_string(),
        r#"dayshift.toml: provisioner: "docker" is not a provisioner: must be "script" or "echo""#
    );
    let b = TemplateBundle {
        files: vec![file("dayshift.toml", 0o644, &[0xff, 0xfe])],
    };
    assert_eq!(
        b.manifest().unwrap_err().to_string(),
        "dayshift.toml is not valid UTF-8"
    );
}

#[test]
fn extract_writes_files_with_their_modes() {
    let b = bundle(vec![
        file("start.sh", 0o755, b"#!/bin/sh\necho started\n"),
        file("conf/a/b.txt", 0o600, b"secret"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("v1");
    b.extract_to(&target).unwrap();
    let mode = |p: &str| fs::metadata(target.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("start.sh"), 0o755);
    assert_eq!(mode("conf/a/b.txt"), 0o600);
    assert_eq!(mode("dayshift.toml"), 0o644);
    assert_eq!(fs::read(target.join("conf/a/b.txt")).unwrap(), b"secret");
    // Executable as extracted.
    let out = std::process::Command::new(target.join("start.sh"))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"started\n");
    // Extracting again over the same directory replaces the files.
    b.extract_to(&target).unwrap();
    // And reading it back gives the same bundle.
    assert_eq!(TemplateBundle::from_dir(&target).unwrap().files.len(), 3);
}

#[test]
fn extract_refuses_paths_escaping_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    let b = bundle(vec![file("../escaped", 0o644, b"x")]);
    let e = b.extract_to(&target).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid path \"../escaped\": must not contain .."
    );
    assert!(!dir.path().join("escaped").exists());

    let b = bundle(vec![file("/tmp/escaped", 0o644, b"x")]);
    assert!(matches!(
        b.extract_to(&target),
        Err(BundleError::InvalidPath { .. })
    ));
}

#[test]
fn extract_refuses_to_write_through_symlinks_in_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let target = dir.path().join("t");
    fs::create_dir(&target).unwrap();
    symlink(&outside, target.join("sub")).unwrap();
    symlink(outside.join("file"), target.join("start.sh")).unwrap();

    let e = bundle(vec![file("sub/x", 0o644, b"x")])
        .extract_to(&target)
        .unwrap_err();
    assert!(
        e.to_string().contains("exists and is not a directory"),
        "{e}"
    );
    let e = bundle(vec![file("start.sh", 0o755, b"x")])
        .extract_to(&target)
        .unwrap_err();
    assert!(
        e.to_string().contains("exists and is not a regular file"),
        "{e}"
    );
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn example_templates_are_valid_bundles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates");
    let echo = TemplateBundle::from_dir(&root.join("echo")).unwrap();
    echo.manifest().unwrap();
    let local = TemplateBundle::from_dir(&root.join("local-process")).unwrap();
    local.manifest().unwrap();
    for script in ["start.sh", "stop.sh", "delete.sh"] {
        let f = local.file(script).unwrap();
        assert_eq!(f.mode, 0o755, "{script} must be executable");
        assert!(f.content.starts_with(b"#!/bin/sh\n"), "{script}");
    }
}
