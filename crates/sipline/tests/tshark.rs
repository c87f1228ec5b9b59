//! Wireshark's SIP dissector must read what sipline writes: every message
//! of the RFC corpus, as re-serialized by sipline, and messages built by its
//! builders (responses per RFC 3261 §8.2.6, the ACK of §17.1.1.3, CANCEL of
//! §9.1), go into a pcap as UDP datagrams to port 5060; tshark must decode
//! each as SIP with the same Call-ID and CSeq, and flag nothing malformed.
//!
//! Needs `tshark` (Debian package `tshark`, installed by `.ci/run`).

use sipline_message::{Bytes, Message, StatusCode};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A pcap file (LINKTYPE_RAW: IPv4 packets) of UDP datagrams 192.0.2.1:5060 -> 192.0.2.2:5060.
fn pcap(datagrams: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes()); // LINKTYPE_RAW
    for (i, d) in datagrams.iter().enumerate() {
        let udp_len = 8 + d.len();
        let ip_len = 20 + udp_len;
        let mut ip = vec![
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
            192,
            0,
            2,
            1,
            192,
            0,
            2,
            2,
        ];
        let sum = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum::<u32>();
        let sum = (sum & 0xffff) + (sum >> 16);
        let csum = !((sum & 0xffff) + (sum >> 16)) as u16;
        ip[10..12].copy_from_slice(&csum.to_be_bytes());
        let mut packet = ip;
        packet.extend_from_slice(&5060u16.to_be_bytes());
        packet.extend_from_slice(&5060u16.to_be_bytes());
        packet.extend_from_slice(&(udp_len as u16).to_be_bytes());
        packet.extend_from_slice(&0u16.to_be_bytes()); // no UDP checksum (IPv4)
        packet.extend_from_slice(d);
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        out.extend_from_slice(&packet);
    }
    out
}

fn corpus() -> Vec<Message> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sipline-message/tests/data");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["rfc3261", "rfc3665"] {
        for e in std::fs::read_dir(data.join(dir)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| Message::parse(Bytes::from(std::fs::read(f).unwrap())).unwrap())
        // RFC 3261 §24.2 prints "(Alice's SDP not shown)" as an
        // application/sdp body; Wireshark's SDP dissector rightly calls that
        // malformed. Leave out bodies that are not SDP by our own parser.
        .filter(|m| match m.content_type() {
            Ok(Some(ct)) if ct.is("application", "sdp") => std::str::from_utf8(m.body())
                .ok()
                .is_some_and(|t| t.parse::<sipline_sdp::SessionDescription>().is_ok()),
            _ => true,
        })
        .collect()
}

#[test]
fn tshark_reads_our_messages_as_well_formed_sip() {
    let Ok(version) = Command::new("tshark").arg("--version").output() else {
        panic!("tshark is not installed: run .ci/run, or apt-get install tshark");
    };
    assert!(version.status.success());

    let mut messages = corpus();
    assert!(messages.len() > 180, "the corpus is there");
    // messages sipline builds itself
    let invite = messages
        .iter()
        .find(|m| {
            m.as_request()
                .is_some_and(|r| r.method == sipline_message::Method::Invite)
        })
        .unwrap()
        .clone();
    let req = invite.as_request().unwrap();
    for code in [100, 180, 200, 486, 699] {
        messages.push(Message::from(sipline_message::builder::response_to(
            req,
            StatusCode::new(code).unwrap(),
            Some("b1d2"),
        )));
    }
    let busy = messages.last().unwrap().clone();
    messages.push(Message::from(sipline_transaction::ack_for_non_2xx(
        req, &busy,
    )));
    messages.push(Message::from(sipline_transaction::cancel_for(req)));

    let dir = std::env::temp_dir().join(format!("sipline-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("messages.pcap");
    let wire: Vec<Bytes> = messages.iter().map(Message::to_bytes).collect();
    std::fs::write(&file, pcap(&wire)).unwrap();

    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&file)
        .args([
            "-d",
            "udp.port==5060,sip",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.number",
            "-e",
            "sip.Call-ID",
            "-e",
            "sip.CSeq.seq",
            "-e",
            "sip.CSeq.method",
            "-e",
            "_ws.malformed",
            "-e",
            "_ws.expert.severity",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), messages.len(), "one frame per message");
    for (row, m) in rows.iter().zip(&messages) {
        let what = m.to_string().lines().next().unwrap_or("").to_string();
        assert_eq!(row[1], m.call_id().unwrap(), "Call-ID of {what}");
        let cseq = m.cseq().unwrap();
        assert_eq!(row[2], cseq.seq.to_string(), "CSeq of {what}");
        assert_eq!(row[3], cseq.method.as_str(), "CSeq method of {what}");
        assert!(row[4].is_empty(), "malformed: {what}");
        // expert severities: 8388608 = warning, 12582912 = error (epan/expert.h)
        for sev in row[5].split(',').filter(|s| !s.is_empty()) {
            let sev: u64 = sev.parse().unwrap();
            assert!(sev < 8_388_608, "expert warning or error ({sev}) on {what}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
