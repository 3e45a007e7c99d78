//! A TCP proxy between `coffre serve` and its database that can break every connection open
//! through it at once, in one of two ways ([`Cut`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How a cut breaks a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Both sides see a reset (RST) at once, as when a proxy in between restarts.
    Reset,
    /// The connection's state is lost in between, as when a firewall, a NAT or a load balancer
    /// forgets it (or fails over): the database sees a reset and rolls back; `coffre` hears
    /// nothing until it sends something, which is answered by a reset. A client that waits
    /// for an answer without a deadline waits forever.
    StateLost,
}

/// How long a connection whose state was lost stays silent at most (far past any deadline
/// the service may set itself), so the proxy's tasks end.
const SILENCE: Duration = Duration::from_secs(600);

/// Forwards every connection made to [`Proxy::addr`] to the upstream address.
pub struct Proxy {
    pub addr: SocketAddr,
    /// Set by each cut; each connection watches it from the moment it opens.
    cuts: watch::Sender<Option<Cut>>,
    open: Arc<AtomicUsize>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cuts, _) = watch::channel(None);
        let open = Arc::new(AtomicUsize::new(0));
        let acceptor = tokio::spawn({
            let cuts = cuts.clone();
            let open = open.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(pump(client, upstream, cuts.subscribe(), open.clone()));
                }
            }
        });
        Self {
            addr,
            cuts,
            open,
            acceptor,
        }
    }

    /// Breaks every connection open now; later ones pass untouched. Returns how many were
    /// open.
    pub fn cut(&self, how: Cut) -> usize {
        let open = self.open.load(Ordering::SeqCst);
        self.cuts.send_replace(Some(how));
        open
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Copies bytes both ways until either side closes or a cut comes.
async fn pump(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut cuts: watch::Receiver<Option<Cut>>,
    open: Arc<AtomicUsize>,
) {
    // An unreachable upstream closes the client's connection, as the database would.
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    for stream in [&client, &server] {
        stream.set_nodelay(true).unwrap();
    }
    open.fetch_add(1, Ordering::SeqCst);
    let cut = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => None,
        changed = cuts.changed() => changed.ok().and(*cuts.borrow_and_update()),
    };
    open.fetch_sub(1, Ordering::SeqCst);
    let Some(cut) = cut else {
        return;
    };
    // A zero linger makes closing send RST instead of FIN.
    let _ = server.set_zero_linger();
    drop(server);
    if cut == Cut::StateLost {
        // Silence until the client speaks (or gives up); whatever it sends is lost.
        let mut byte = [0_u8; 1];
        let _ = tokio::time::timeout(SILENCE, client.read(&mut byte)).await;
    }
    let _ = client.set_zero_linger();
}
