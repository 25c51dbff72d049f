//! An OpenAI-compatible chat-completions client that asks for JSON matching a schema
//! (`response_format: json_schema`, falling back to `json_object` on servers that refuse it),
//! validates the answer, asks once more when it is malformed, and counts tokens against the
//! task's budget. Also `/audio/transcriptions`.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::analysis::EngineError;

/// Part of a user message: text, or an image as a data URL (vision).
#[derive(Debug, Clone)]
pub enum Part {
    Text(String),
    Image(String),
}

/// Tokens one task may spend.
#[derive(Debug)]
pub struct Budget {
    used: AtomicU64,
    limit: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Self {
        Self {
            used: AtomicU64::new(0),
            limit,
        }
    }
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
    fn spend(&self, tokens: u64) -> Result<(), EngineError> {
        let used = self.used.fetch_add(tokens, Ordering::Relaxed) + tokens;
        if used > self.limit {
            return Err(EngineError(format!(
                "the analysis used {used} tokens, over its budget of {}",
                self.limit
            )));
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct Chat {
    base: String,
    api_key: Option<String>,
    pub model: String,
    http: reqwest::Client,
    /// Cleared when the server refuses `json_schema` response formats.
    json_schema: AtomicBool,
}

/// How a model call went wrong.
enum Failure {
    /// The answer was there but not what was asked for: worth asking again.
    Malformed(String),
    /// The call itself failed: the analysis fails.
    Fatal(EngineError),
}

impl Chat {
    pub fn new(base: &str, api_key: Option<String>, model: &str, timeout: Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            api_key,
            model: model.to_string(),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            json_schema: AtomicBool::new(true),
        }
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.post(format!("{}{path}", self.base));
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Asks for a JSON answer named `name` matching `schema`, deserialised into `T` and passed
    /// through `check`. A malformed answer is asked for once more, with the reason; a second
    /// malformed answer fails the analysis.
    pub async fn ask<T: DeserializeOwned>(
        &self,
        budget: &Budget,
        system: &str,
        user: &[Part],
        name: &str,
        schema: &Value,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, EngineError> {
        let mut messages = vec![
            json!({"role": "system", "content": system}),
            json!({"role": "user", "content": content(user)}),
        ];
        let mut last = String::new();
        for _attempt in 0..2 {
            match self.answer(budget, &messages, name, schema, &check).await {
                Ok(answer) => return Ok(answer),
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::Malformed(why)) => {
                    tracing::info!(step = name, %why, "malformed model answer");
                    messages.push(json!({"role": "assistant", "content": "(malformed answer)"}));
                    messages.push(json!({"role": "user", "content": format!(
                        "That answer was not valid: {why}. Answer again with only a JSON object \
                         matching the schema {name}."
                    )}));
                    last = why;
                }
            }
        }
        Err(EngineError(format!(
            "the model's answer to the {name} step was malformed twice ({last})"
        )))
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        budget: &Budget,
        messages: &[Value],
        name: &str,
        schema: &Value,
        check: &impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, Failure> {
        let text = self.complete(budget, messages, name, schema).await?;
        let text = text.trim();
        // Some servers wrap JSON in a Markdown fence even when asked not to.
        let text = text
            .strip_prefix("```json")
            .or_else(|| text.strip_prefix("```"))
            .and_then(|t| t.strip_suffix("```"))
            .unwrap_or(text);
        let value: T = serde_json::from_str(text)
            .map_err(|e| Failure::Malformed(format!("it does not match the schema: {e}")))?;
        check(&value).map_err(Failure::Malformed)?;
        Ok(value)
    }

    async fn complete(
        &self,
        budget: &Budget,
        messages: &[Value],
        name: &str,
        schema: &Value,
    ) -> Result<String, Failure> {
        loop {
            let strict = self.json_schema.load(Ordering::Relaxed);
            let format = if strict {
                json!({"type": "json_schema",
                       "json_schema": {"name": name, "schema": schema, "strict": true}})
            } else {
                json!({"type": "json_object"})
            };
            let body = json!({
                "model": self.model,
                "messages": messages,
                "response_format": format,
                "temperature": 0,
            });
            let response = self.post("/chat/completions").json(&body).send().await;
            let response = response.map_err(|e| {
                Failure::Fatal(EngineError(if e.is_timeout() {
                    "the model did not answer in time".into()
                } else {
                    "the model server could not be reached".into()
                }))
            })?;
            let status = response.status();
            if status == reqwest::StatusCode::BAD_REQUEST && strict {
                // A server without structured outputs: JSON mode plus our own validation.
                self.json_schema.store(false, Ordering::Relaxed);
                continue;
            }
            if !status.is_success() {
                return Err(Failure::Fatal(EngineError(format!(
                    "the model server answered {}",
                    status.as_u16()
                ))));
            }
            let reply: Value = response.json().await.map_err(|_| {
                Failure::Malformed("the server's reply is not chat-completion JSON".into())
            })?;
            let tokens = reply["usage"]["total_tokens"].as_u64().unwrap_or(0);
            budget.spend(tokens).map_err(Failure::Fatal)?;
            return reply["choices"][0]["message"]["content"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Failure::Malformed("the reply has no message content".into()));
        }
    }

    /// The transcript of an audio or video file (`/audio/transcriptions`).
    pub async fn transcribe(
        &self,
        model: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<String, String> {
        let boundary = format!("clara-{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::new();
        let safe_name: String = name
            .chars()
            .filter(|c| *c != '"' && !c.is_control())
            .collect();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{safe_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .post("/audio/transcriptions")
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|_| "the transcription server could not be reached".to_string())?;
        if !response.status().is_success() {
            return Err(format!(
                "the transcription server answered {}",
                response.status().as_u16()
            ));
        }
        let reply: Value = response
            .json()
            .await
            .map_err(|_| "the transcription reply is not JSON".to_string())?;
        reply["text"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "the transcription reply has no text".to_string())
    }
}

/// A user message's content: a plain string, or parts when there are images.
fn content(parts: &[Part]) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text(_))) {
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                Part::Image(_) => None,
            })
            .collect();
        return Value::String(text.join("\n\n"));
    }
    Value::Array(
        parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => json!({"type": "text", "text": t}),
                Part::Image(url) => json!({"type": "image_url", "image_url": {"url": url}}),
            })
            .collect(),
    )
}
