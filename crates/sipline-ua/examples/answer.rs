//! Answers calls with a 1 kHz tone and prints what happens.
//!
//! Run: `cargo run -p sipline-ua --example answer -- 127.0.0.1:5070`
//! then call it, e.g. with `cargo run -p sipline-ua --example call -- sip:bob@127.0.0.1:5070`.

use sipline_media::Source;
use sipline_ua::media::{CallMedia, MediaOptions};
use sipline_ua::{Body, CallEvent, Config, Transport, UserAgent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: std::net::SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5070".into())
        .parse()?;
    let mut config = Config::new(&format!("sip:bob@{}", addr.ip()))?;
    config.listen = vec![(Transport::Udp, addr), (Transport::Tcp, addr)];
    let (_ua, mut incoming) = UserAgent::start(config).await?;
    println!("waiting for calls on {addr}");
    while let Some(inc) = incoming.next_call().await {
        println!(
            "call from {}",
            inc.request
                .headers
                .get("From")
                .map(|v| v.to_string())
                .unwrap_or_default()
        );
        let mut options = MediaOptions::new(addr.ip());
        options.source = Source::Tone {
            freq_hz: 1000.0,
            amplitude: 8000,
        };
        let mut media = CallMedia::bind(options).await?;
        // RFC 3264: answer the offer in the INVITE (or offer in the 200).
        let answer = if inc.request.body.is_empty() {
            media.offer()
        } else {
            let a = media.answer(&Body::sdp(inc.request.body.clone()))?;
            media.start()?;
            a
        };
        inc.call.ring(180, None).await?;
        inc.call.answer(Some(answer)).await?;
        let mut call = inc.call;
        while let Some(event) = call.next_event().await {
            println!("  {event:?}");
            if let CallEvent::Offer {
                body: Some(offer), ..
            } = &event
            {
                let answer = media.answer(offer)?;
                media.start()?;
                call.respond_offer(200, Some(answer)).await?;
            }
            if matches!(event, CallEvent::Ended { .. }) {
                break;
            }
        }
        if let Some(report) = media.stop().await {
            println!("  received {} RTP packets", report.stats.packets_received);
        }
    }
    Ok(())
}
