//! TLS (RFC 3261 §26.2, TLS over TCP) with rustls and the `ring` provider,
//! for the TLS and WSS transports.

use crate::config::{PemSource, TlsClientConfig, TlsServerConfig};
use crate::connection::BoxIo;
use crate::SendError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

fn certs(src: &PemSource) -> io::Result<Vec<CertificateDer<'static>>> {
    let pem = src.load()?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("certificate PEM", e))?;
    if certs.is_empty() {
        return Err(invalid("certificate PEM", "no certificate found"));
    }
    Ok(certs)
}

/// The acceptor for TLS and WSS listeners.
pub(crate) fn server(cfg: &TlsServerConfig) -> io::Result<TlsAcceptor> {
    let chain = certs(&cfg.cert_chain)?;
    let key = PrivateKeyDer::from_pem_slice(&cfg.private_key.load()?)
        .map_err(|e| invalid("private key PEM", e))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid("TLS certificate", e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The connector for outgoing TLS and WSS connections.
pub(crate) fn client(cfg: &TlsClientConfig) -> io::Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for src in &cfg.roots {
        for c in certs(src)? {
            roots.add(c).map_err(|e| invalid("root certificate", e))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Runs the client handshake over `tcp`, checking the certificate against
/// `server_name` (or the peer's IP address).
pub(crate) async fn connect(
    connector: &TlsConnector,
    tcp: TcpStream,
    addr: SocketAddr,
    server_name: Option<&str>,
) -> Result<BoxIo, SendError> {
    let name = match server_name {
        Some(n) => ServerName::try_from(n.to_string()).map_err(|e| SendError::Tls {
            addr,
            reason: e.to_string(),
        })?,
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| SendError::Tls {
            addr,
            reason: e.to_string(),
        })?;
    Ok(Box::new(tls))
}

/// Runs the server handshake over an accepted `tcp`.
pub(crate) async fn accept(acceptor: &TlsAcceptor, tcp: TcpStream) -> io::Result<BoxIo> {
    Ok(Box::new(acceptor.accept(tcp).await?))
}
