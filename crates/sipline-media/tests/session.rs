//! Two RTP sessions talking over loopback: tones both ways, DTMF, and a WAV
//! file played and recorded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sipline_media::tone::{goertzel, ToneGenerator};
use sipline_media::{wav, Codec, MediaConfig, RtpSession, Source};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn pair() -> (RtpSession, RtpSession) {
    let a = RtpSession::bind(loopback()).await.unwrap();
    let b = RtpSession::bind(loopback()).await.unwrap();
    (a, b)
}

fn tone(freq_hz: f64) -> Source {
    Source::Tone {
        freq_hz,
        amplitude: 8000,
    }
}

#[tokio::test]
async fn tones_both_ways() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let (a, b) = pair().await;
        let (a_addr, b_addr) = (a.local_addr(), b.local_addr());
        let a = a.start(MediaConfig {
            source: tone(440.0),
            record: true,
            ..MediaConfig::new(b_addr, codec)
        });
        let b = b.start(MediaConfig {
            source: tone(1000.0),
            record: true,
            ..MediaConfig::new(a_addr, codec)
        });
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let a = a.stop().await;
        let b = b.stop().await;

        for (name, report, heard, other) in [("a", &a, 1000.0, 440.0), ("b", &b, 440.0, 1000.0)] {
            let stats = &report.stats;
            assert!(stats.packets_received >= 40, "{codec:?} {name}: {stats:?}");
            assert!(stats.packets_sent >= 40, "{codec:?} {name}: {stats:?}");
            assert_eq!(stats.lost, 0, "{codec:?} {name}: {stats:?}");
            assert_eq!(stats.packets_invalid, 0);
            assert_eq!(stats.bytes_received, 160 * stats.packets_received);
            assert!(stats.remote_ssrc.is_some());
            let samples = &report.received_samples;
            assert!(
                samples.len() >= 40 * 160,
                "{codec:?} {name}: {}",
                samples.len()
            );
            let wanted = goertzel(samples, heard);
            let unwanted = goertzel(samples, other);
            assert!(
                wanted > 100.0 * unwanted,
                "{codec:?} {name}: power at {heard} Hz {wanted}, at {other} Hz {unwanted}"
            );
        }
        assert_eq!(a.stats.remote_ssrc, Some(b.stats.local_ssrc));
        assert_eq!(b.stats.remote_ssrc, Some(a.stats.local_ssrc));
    }
}

#[tokio::test]
async fn dtmf_digits_arrive_once_each() {
    let (a, b) = pair().await;
    let (a_addr, b_addr) = (a.local_addr(), b.local_addr());
    let a = a.start(MediaConfig {
        source: tone(440.0),
        ..MediaConfig::new(b_addr, Codec::Pcmu)
    });
    let b = b.start(MediaConfig::new(a_addr, Codec::Pcmu));
    tokio::time::sleep(Duration::from_millis(100)).await;
    for digit in "1#".chars() {
        a.send_dtmf(digit).unwrap();
    }
    assert!(a.send_dtmf('x').is_err());
    // Each digit: 7 packets of 20 ms, then a 60 ms pause.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while b.stats().dtmf_received.len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the last retransmissions arrive too: they must not add digits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a = a.stop().await;
    let b = b.stop().await;
    assert_eq!(b.stats.dtmf_received, ['1', '#']);
    assert!(a.stats.dtmf_received.is_empty());
    assert_eq!(b.stats.lost, 0, "{:?}", b.stats);
}

#[tokio::test]
async fn wav_file_is_sent_and_recorded() {
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let prompt_path = dir.join(format!("sipline-media-prompt-{id}.wav"));
    let record_path = dir.join(format!("sipline-media-record-{id}.wav"));
    // 0.8 s of 600 Hz: 6400 samples, 40 packets.
    let prompt = ToneGenerator::new(600.0, 6000).frame(6400);
    wav::write(&prompt_path, &prompt).unwrap();
    let samples = Arc::new(wav::read(&prompt_path).unwrap());
    assert_eq!(samples.len(), 6400);

    let (a, b) = pair().await;
    let (a_addr, b_addr) = (a.local_addr(), b.local_addr());
    let a = a.start(MediaConfig {
        source: Source::Samples(samples),
        ..MediaConfig::new(b_addr, Codec::Pcma)
    });
    let b = b.start(MediaConfig {
        record: true,
        ..MediaConfig::new(a_addr, Codec::Pcma)
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !a.stats().source_finished && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a = a.stop().await;
    let b = b.stop().await;
    assert!(a.stats.source_finished);
    // 40 packets, fewer only if a long stall made the sender skip some.
    assert!((37..=40).contains(&a.stats.packets_sent), "{:?}", a.stats);

    wav::write(&record_path, &b.received_samples).unwrap();
    let recorded = wav::read(&record_path).unwrap();
    assert_eq!(recorded, b.received_samples);
    let expected = prompt.len() as i64;
    assert!(
        (recorded.len() as i64 - expected).abs() <= 3 * 160,
        "recorded {} samples, sent {expected}",
        recorded.len()
    );
    assert!(goertzel(&recorded, 600.0) > 100.0 * goertzel(&recorded, 1000.0));
    std::fs::remove_file(&prompt_path).unwrap();
    std::fs::remove_file(&record_path).unwrap();
}

#[tokio::test]
async fn hold_retarget_and_foreign_packets() {
    let (a, b) = pair().await;
    let c = RtpSession::bind(loopback()).await.unwrap();
    let (a_addr, b_addr, c_addr) = (a.local_addr(), b.local_addr(), c.local_addr());
    let a = a.start(MediaConfig {
        source: tone(440.0),
        ..MediaConfig::new(b_addr, Codec::Pcmu)
    });
    let b = b.start(MediaConfig::new(a_addr, Codec::Pcmu));
    let c = c.start(MediaConfig::new(a_addr, Codec::Pcmu));

    // A stranger's datagrams reach b: not RTP, then RTP from another address.
    let stranger = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
    stranger.send_to(b"hello", b_addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_hold = b.stats();
    assert!(before_hold.packets_received >= 5, "{before_hold:?}");
    assert!(before_hold.packets_ignored >= 1, "{before_hold:?}");
    assert_eq!(before_hold.packets_invalid, 0, "checked after the address");

    // Hold: a stops sending.
    a.set_direction(false, true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let held = b.stats().packets_received;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.stats().packets_received, held);

    // Resume towards c instead (a re-INVITE moved the far end).
    a.set_remote(c_addr);
    a.set_direction(true, true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = a.stop().await;
    let b = b.stop().await;
    let c = c.stop().await;
    assert_eq!(b.stats.packets_received, held);
    assert!(c.stats.packets_received >= 5, "{:?}", c.stats);
    assert_eq!(c.stats.remote_ssrc, Some(a.stats.local_ssrc));
    // b and c sent silence to a; only c's came from a's current remote.
    assert!(a.stats.packets_ignored >= 1, "{:?}", a.stats);
}
