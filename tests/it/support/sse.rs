//! A legacy HTTP+SSE client transport for rmcp (rmcp 3.x has none): GET the event stream, wait
//! for the `endpoint` event, then POST each client message to it.

use futures::{SinkExt, StreamExt, channel::mpsc};
use rmcp::{
    RoleClient,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
};

pub type Pair = (
    mpsc::UnboundedSender<TxJsonRpcMessage<RoleClient>>,
    mpsc::UnboundedReceiver<RxJsonRpcMessage<RoleClient>>,
);

/// Opens `/sse` and returns an rmcp transport; panics if the endpoint is not announced.
pub async fn connect(sse_url: &str, headers: &[(&str, &str)]) -> Pair {
    let http = reqwest::Client::new();
    let mut request = http.get(sse_url).header("accept", "text/event-stream");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("GET /sse");
    assert_eq!(response.status(), 200, "GET /sse");
    let mut events = Box::pin(events(response));
    let (kind, endpoint) = events.next().await.expect("endpoint event");
    assert_eq!(kind, "endpoint");
    let base = reqwest::Url::parse(sse_url).unwrap();
    let post_url = base.join(&endpoint).unwrap();

    let (to_client, from_server) = mpsc::unbounded::<RxJsonRpcMessage<RoleClient>>();
    tokio::spawn(async move {
        let mut to_client = to_client;
        // When the client closes (drops its receiver), the event stream is closed too, so the
        // server ends the session; checked between events, since none may come.
        let mut check = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            let (kind, data) = tokio::select! {
                event = events.next() => match event {
                    Some(event) => event,
                    None => break,
                },
                _ = check.tick() => {
                    if to_client.is_closed() {
                        break;
                    }
                    continue;
                }
            };
            if kind == "message" {
                let message = serde_json::from_str(&data).expect("server message parses");
                if to_client.send(message).await.is_err() {
                    break;
                }
            }
        }
    });

    let (to_server, mut outgoing) = mpsc::unbounded::<TxJsonRpcMessage<RoleClient>>();
    let owned: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::spawn(async move {
        while let Some(message) = outgoing.next().await {
            let mut request = http.post(post_url.clone()).json(&message);
            for (k, v) in &owned {
                request = request.header(k, v);
            }
            match request.send().await {
                Ok(response) if response.status() == 202 => {}
                Ok(response) => panic!("POST /messages answered {}", response.status()),
                Err(_) => break,
            }
        }
    });
    (to_server, from_server)
}

/// Parses an SSE body into (event, data) pairs.
fn events(response: reqwest::Response) -> impl futures::Stream<Item = (String, String)> {
    futures::stream::unfold(
        (response.bytes_stream(), String::new()),
        |(mut body, mut buffer)| async move {
            loop {
                if let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let (mut kind, mut data) = ("message".to_string(), Vec::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            kind = v.trim().to_string();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                        }
                    }
                    if data.is_empty() {
                        continue; // keep-alive comment
                    }
                    return Some(((kind, data.join("\n")), (body, buffer)));
                }
                match body.next().await {
                    Some(Ok(chunk)) => {
                        buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"))
                    }
                    _ => return None,
                }
            }
        },
    )
}
