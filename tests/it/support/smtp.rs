//! A real SMTP server on loopback for tests: accepts every message and keeps it; can be stopped
//! (connections refused, open ones cut) and started again on the same port.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    task::JoinHandle,
};

/// A received message: envelope recipients and the raw RFC 5322 text.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub raw: String,
}

#[derive(Default)]
struct Inbox {
    messages: Vec<Received>,
    /// How many messages per recipient tests have already taken.
    taken: HashMap<String, usize>,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
    server: Option<JoinHandle<()>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let server = Some(tokio::spawn(serve(listener, inbox.clone())));
        Self {
            addr,
            inbox,
            server,
        }
    }

    /// Refuses new connections and cuts open ones.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    pub async fn restart(&mut self) {
        self.stop();
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebinding the SMTP sink: {e}"),
            }
        };
        self.server = Some(tokio::spawn(serve(listener, self.inbox.clone())));
    }

    pub fn count_to(&self, address: &str) -> usize {
        let inbox = self.inbox.lock().unwrap();
        inbox
            .messages
            .iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .count()
    }

    /// The next message to `address` that no test has taken yet, waiting up to `timeout`.
    pub async fn take(&self, address: &str, timeout: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            {
                let mut inbox = self.inbox.lock().unwrap();
                let key = address.to_ascii_lowercase();
                let seen = *inbox.taken.get(&key).unwrap_or(&0);
                let found = inbox
                    .messages
                    .iter()
                    .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
                    .nth(seen)
                    .cloned();
                if let Some(message) = found {
                    inbox.taken.insert(key, seen + 1);
                    return message;
                }
            }
            if tokio::time::Instant::now() > deadline {
                panic!("no mail to {address} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(listener: TcpListener, inbox: Arc<Mutex<Inbox>>) {
    // Connections live in this set: aborting the server aborts them too.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            return;
        };
        connections.spawn(session(socket, inbox.clone()));
    }
}

async fn session(socket: tokio::net::TcpStream, inbox: Arc<Mutex<Inbox>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 localhost test SMTP\r\n").await;
    let mut to = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" | "MAIL" | "NOOP" => b"250 OK\r\n",
            "RSET" => {
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                let address = line.split_once(':').map(|(_, a)| a).unwrap_or("");
                let address = address.trim().trim_start_matches('<');
                let address = address.split('>').next().unwrap_or("").to_string();
                to.push(address);
                b"250 OK\r\n"
            }
            "DATA" => {
                let _ = write.write_all(b"354 go ahead\r\n").await;
                let mut raw = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    raw.push_str(line.strip_prefix('.').unwrap_or(&line));
                    raw.push('\n');
                }
                inbox.lock().unwrap().messages.push(Received {
                    to: std::mem::take(&mut to),
                    raw,
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 not implemented\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

impl Received {
    /// The six-digit code on a line of its own (every Clara code mail has one).
    pub fn code(&self) -> String {
        self.raw
            .lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| panic!("no code in mail:\n{}", self.raw))
            .to_string()
    }

    pub fn subject(&self) -> String {
        self.raw
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }
}
