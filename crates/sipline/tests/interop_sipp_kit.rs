//! SIPp registering 2,000 distinct users and calling through `sipline serve`
//! to a SIPp UAS, with the scenarios of `bench/sipp/` driven by
//! `bench/run-bench.sh --quick` (SIPp installed by `.ci/run`). The script
//! exits 0 only if every REGISTER and every call succeeded.

use std::process::Command;

#[test]
fn sipp_registers_thousands_and_calls_through_the_proxy() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new("timeout")
        .args([
            "240",
            "bash",
            "bench/run-bench.sh",
            "sipline",
            "--quick",
            "--users",
            "2000",
        ])
        .args(["--sipline-bin", env!("CARGO_BIN_EXE_sipline")])
        .current_dir(root)
        .output()
        .expect("run bench/run-bench.sh");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("interop check: pass (REGISTER 2000/2000"),
        "{text}"
    );
}
