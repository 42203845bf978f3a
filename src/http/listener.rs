//! The TCP acceptor the server listens with: poem's, plus `TCP_NODELAY` on every
//! accepted connection. Frames are batched and flushed once by the socket loop, so
//! Nagle's algorithm has nothing left to coalesce; left on, it holds a small frame
//! back until the peer's (delayed) ACK of the previous one, up to 40 ms on Linux.

use std::io::Result;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

pub struct NoDelayAcceptor {
    listener: TcpListener,
    local_addr: LocalAddr,
}

impl NoDelayAcceptor {
    pub async fn bind(addr: impl ToSocketAddrs) -> Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = LocalAddr(listener.local_addr()?.into());
        Ok(Self {
            listener,
            local_addr,
        })
    }
}

impl Acceptor for NoDelayAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        vec![self.local_addr.clone()]
    }

    async fn accept(&mut self) -> Result<(TcpStream, LocalAddr, RemoteAddr, Scheme)> {
        let (io, addr) = self.listener.accept().await?;
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        Ok((
            io,
            self.local_addr.clone(),
            RemoteAddr(addr.into()),
            Scheme::HTTP,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_do_not_wait_for_acks() {
        let mut acceptor = NoDelayAcceptor::bind("127.0.0.1:0").await.unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (io, _, remote, _) = acceptor.accept().await.unwrap();
        assert!(io.nodelay().unwrap(), "TCP_NODELAY is set");
        assert_eq!(
            remote.as_socket_addr().copied(),
            Some(client.local_addr().unwrap())
        );
    }
}
