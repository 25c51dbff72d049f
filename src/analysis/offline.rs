//! The offline engine, the default: it extracts everything for real and splits the claims out,
//! then says honestly that it cannot verify them. Every claim is `NOT_ENOUGH_EVIDENCE`; what
//! the files themselves show (an EXIF date, a GPS position, an editing program, a duration)
//! is reported as observations, and a date that contradicts the text is pointed out, never
//! turned into a verdict. It fetches no link and asks no model.

use super::{
    Analysis, ClaimResult, Engine, EngineFuture, Input, Kind, Link, Observation, Progress, Stage,
    Verdict, claims,
    extract::{self, Extraction},
};

#[derive(Debug, Default)]
pub struct Offline;

impl Engine for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn analyse<'a>(&'a self, input: &'a Input, progress: &'a Progress) -> EngineFuture<'a> {
        Box::pin(async move {
            progress.report(Stage::Extracting);
            let attachments = extract::all(&input.files).await;
            progress.report(Stage::Verifying);
            Ok(conclude(&input.text, attachments))
        })
    }
}

const EXPLANATION: &str = "No web retrieval or language model is configured on this server \
    (offline engine), so the claim was not checked against any source.";

/// The offline result for a text and its extracted files.
pub fn conclude(text: &str, attachments: Vec<Extraction>) -> Analysis {
    let mut claim_texts = claims::split(text);
    let from_files = claim_texts.is_empty();
    if from_files {
        for extraction in &attachments {
            if let Some(doc_text) = &extraction.text {
                let room = claims::MAX_CLAIMS.saturating_sub(claim_texts.len());
                claim_texts.extend(claims::split(doc_text).into_iter().take(room.min(5)));
            }
        }
    }
    let claims: Vec<ClaimResult> = claim_texts
        .into_iter()
        .map(|text| ClaimResult {
            text,
            verdict: Verdict::NotEnoughEvidence,
            confidence: 0.0,
            explanation: EXPLANATION.into(),
            evidence: Vec::new(),
        })
        .collect();
    let observations = observe(text, &attachments);
    let links = claims::links(text)
        .into_iter()
        .map(|url| Link {
            url,
            fetched: false,
            note: Some("the offline engine does not fetch links".into()),
        })
        .collect();
    let summary = summarise(&claims, from_files, &attachments, &observations);
    Analysis {
        verdict: Verdict::NotEnoughEvidence,
        confidence: 0.0,
        summary,
        claims,
        attachments,
        observations,
        links,
        engine: "offline".into(),
        model: None,
        queries: Vec::new(),
        retrieval: false,
        evidence_dropped: 0,
    }
}

/// Facts the files support on their own, and dates that disagree with the text.
pub fn observe(text: &str, attachments: &[Extraction]) -> Vec<Observation> {
    let stated_years = claims::years(text);
    let mut out = Vec::new();
    let mut add = |file: &str, kind: &str, text: String| {
        out.push(Observation {
            file: file.to_string(),
            kind: kind.to_string(),
            text,
        })
    };
    for a in attachments {
        if let Some(taken) = &a.taken_at {
            add(
                &a.name,
                "exif_date",
                format!(
                    "{}: EXIF says it was taken at {taken} (camera time).",
                    a.name
                ),
            );
            let year: Option<i32> = taken.get(..4).and_then(|y| y.parse().ok());
            if let Some(year) = year
                && !stated_years.is_empty()
                && !stated_years.contains(&year)
            {
                let stated: Vec<String> = stated_years.iter().map(i32::to_string).collect();
                add(
                    &a.name,
                    "date_mismatch",
                    format!(
                        "{}: the text mentions {} but the photo's EXIF date is in {year}. \
                         EXIF can be wrong or edited, so this is not a verdict.",
                        a.name,
                        stated.join(", ")
                    ),
                );
            }
        }
        if let Some(gps) = &a.gps {
            add(
                &a.name,
                "gps",
                format!(
                    "{}: EXIF GPS places it at {:.6}, {:.6}.",
                    a.name, gps.latitude, gps.longitude
                ),
            );
        }
        if let Some(software) = a.exif.as_ref().and_then(|e| e.get("software")) {
            add(
                &a.name,
                "editing_software",
                format!("{}: EXIF names the software {software}.", a.name),
            );
        }
        if let (Some(Kind::Audio | Kind::Video), Some(seconds)) = (a.kind, a.duration_seconds) {
            add(
                &a.name,
                "media",
                format!("{}: {seconds:.1} s long.", a.name),
            );
        }
    }
    out
}

fn describe(a: &Extraction) -> String {
    if let Some(error) = &a.error
        && a.text.is_none()
        && a.width.is_none()
        && a.duration_seconds.is_none()
    {
        return format!("{} could not be read ({error})", a.name);
    }
    let detail = match a.kind {
        Some(Kind::Pdf) => format!(
            "a {}-page PDF{}",
            a.pages.unwrap_or(0),
            a.text
                .as_ref()
                .map(|t| format!(" with {} characters of text", t.chars().count()))
                .unwrap_or_default()
        ),
        Some(Kind::Document) => format!(
            "a document of {} characters",
            a.text.as_ref().map_or(0, |t| t.chars().count())
        ),
        Some(Kind::Image) => format!(
            "a {}×{} image{}",
            a.width.unwrap_or(0),
            a.height.unwrap_or(0),
            if a.exif.is_some() { " with EXIF" } else { "" }
        ),
        Some(Kind::Audio) | Some(Kind::Video) => format!(
            "{} of {:.1} s ({} track(s))",
            if a.kind == Some(Kind::Video) {
                "a video"
            } else {
                "audio"
            },
            a.duration_seconds.unwrap_or(0.0),
            a.tracks.len()
        ),
        None => "a file".into(),
    };
    format!("{} is {detail}", a.name)
}

fn summarise(
    claims: &[ClaimResult],
    from_files: bool,
    attachments: &[Extraction],
    observations: &[Observation],
) -> String {
    let mut parts = vec![
        "The offline engine extracted the input but cannot verify it: no web retrieval or \
         language model is configured, so every claim is NOT_ENOUGH_EVIDENCE."
            .to_string(),
    ];
    parts.push(match (claims.len(), from_files) {
        (0, _) => "No check-worthy claim was found in the input.".into(),
        (n, false) => format!("{n} claim(s) were taken from the text."),
        (n, true) => format!("{n} claim(s) were taken from the attached documents."),
    });
    if !attachments.is_empty() {
        let described: Vec<String> = attachments.iter().map(describe).collect();
        parts.push(format!("Files: {}.", described.join("; ")));
    }
    if !observations.is_empty() {
        parts.push(format!(
            "{} observation(s) come from the files themselves.",
            observations.len()
        ));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::extract::Gps;

    #[test]
    fn never_a_verdict_but_observations_that_the_files_support() {
        let photo = Extraction {
            name: "photo.jpg".into(),
            kind: Some(Kind::Image),
            width: Some(4000),
            height: Some(3000),
            taken_at: Some("2019-05-04 10:00:00".into()),
            gps: Some(Gps {
                latitude: 48.8584,
                longitude: 2.2945,
            }),
            ..Extraction::default()
        };
        let result = conclude(
            "This photo shows the protest in Paris in 2023. More at https://example.org/a.",
            vec![photo],
        );
        assert_eq!(result.verdict, Verdict::NotEnoughEvidence);
        assert_eq!(result.claims.len(), 1);
        assert!(
            result
                .claims
                .iter()
                .all(|c| c.verdict == Verdict::NotEnoughEvidence)
        );
        let kinds: Vec<&str> = result
            .observations
            .iter()
            .map(|o| o.kind.as_str())
            .collect();
        assert_eq!(kinds, ["exif_date", "date_mismatch", "gps"]);
        assert!(result.observations[1].text.contains("2023"));
        assert_eq!(result.links[0].url, "https://example.org/a");
        assert!(!result.links[0].fetched && !result.retrieval);
        assert!(
            result.summary.contains("4000×3000 image"),
            "{}",
            result.summary
        );
    }

    #[test]
    fn claims_come_from_documents_when_the_text_has_none() {
        let doc = Extraction {
            name: "memo.txt".into(),
            kind: Some(Kind::Document),
            text: Some("The budget rose by 40 percent in 2024. Short.".into()),
            ..Extraction::default()
        };
        let result = conclude("", vec![doc]);
        assert_eq!(
            result.claims[0].text,
            "The budget rose by 40 percent in 2024."
        );
        assert!(result.summary.contains("attached documents"));
    }
}
