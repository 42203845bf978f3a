//! A server restarted on the address (and with the state) of one that stopped, so
//! the browsers pointed at it can reconnect by themselves.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webchat::http::{self, HttpOptions};
use webchat::usecase::UseCases;

pub struct Restarted {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Restarted {
    /// Serves `app` on `addr` again (the old listener must be closed).
    pub async fn start(addr: SocketAddr, app: UseCases) -> anyhow::Result<Self> {
        let acceptor = http::listener::NoDelayAcceptor::bind(addr).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            http::serve(acceptor, app, HttpOptions::default(), async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Ok(Self {
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Stops the server and waits until every socket has closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }
}

impl Drop for Restarted {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
