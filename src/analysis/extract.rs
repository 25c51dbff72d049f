//! Extraction: what each attached file holds, read for real (text, pages, dimensions, EXIF with
//! GPS, media duration and codecs). Runs on the blocking pool, a bounded number of files at
//! once, each within a time limit and reading only bounded amounts (a PDF page inflates to at
//! most [`PDF_PAGE_LIMIT`], images are never decoded, text is capped), so a bomb or a broken
//! file fails that file, never the task or the process.

use std::{collections::BTreeMap, io::Cursor, sync::OnceLock, time::Duration};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::{
    File,
    kinds::{self, Kind},
};

/// Extracted text kept per file, in characters.
pub const TEXT_LIMIT: usize = 20_000;
/// Decompressed content one PDF page may inflate to.
pub const PDF_PAGE_LIMIT: usize = 16 * 1024 * 1024;
/// PDF pages read for text.
pub const PDF_PAGES_READ: usize = 200;
/// How long one file may take.
pub const FILE_TIME_LIMIT: Duration = Duration::from_secs(30);

/// What was extracted from one file. Fields that do not apply to its kind are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Extraction {
    pub name: String,
    pub kind: Option<Kind>,
    /// Size in bytes.
    pub bytes: u64,
    /// The text it holds (documents, PDFs), at most 20,000 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Whether `text` was cut at the limit.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub text_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    /// Rows of a CSV file (header included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Selected EXIF fields (camera, dates, software, GPS) as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exif: Option<BTreeMap<String, String>>,
    /// When the photo was taken, by EXIF (`YYYY-MM-DD HH:MM:SS`, camera local time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<String>,
    /// Where, by EXIF GPS, in decimal degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gps: Option<Gps>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// What is said in an audio or video file (when a transcription model is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// Codec or format of each media track.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tracks: Vec<Track>,
    /// Why nothing (or not everything) could be extracted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Gps {
    pub latitude: f64,
    pub longitude: f64,
}

/// One track of an audio or video file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Track {
    /// `audio` or `video`.
    pub kind: String,
    pub codec: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
}

/// Files extracted at once by this process (the blocking pool is shared with password hashing).
fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Semaphore::new(cores)
    })
}

/// Extracts every file, in order. A file that fails, panics or runs out of time gets an
/// `error`; the others are unaffected.
pub async fn all(files: &[File]) -> Vec<Extraction> {
    let jobs = files.iter().map(|file| async move {
        let Ok(_permit) = permits().acquire().await else {
            return failed(file, "extraction is shutting down");
        };
        let owned = file.clone();
        let job = tokio::task::spawn_blocking(move || one(&owned));
        match tokio::time::timeout(FILE_TIME_LIMIT, job).await {
            Ok(Ok(extraction)) => extraction,
            Ok(Err(_panicked)) => failed(file, "the file could not be read (malformed)"),
            Err(_) => failed(
                file,
                &format!(
                    "reading the file took longer than {} s",
                    FILE_TIME_LIMIT.as_secs()
                ),
            ),
        }
    });
    futures::future::join_all(jobs).await
}

fn failed(file: &File, why: &str) -> Extraction {
    Extraction {
        error: Some(why.to_string()),
        ..base(file)
    }
}

fn base(file: &File) -> Extraction {
    Extraction {
        name: file.name.clone(),
        kind: Some(file.kind),
        bytes: file.bytes.len() as u64,
        ..Extraction::default()
    }
}

/// Extracts one file (blocking).
pub fn one(file: &File) -> Extraction {
    let mut out = base(file);
    let outcome = match file.kind {
        Kind::Document => document(file, &mut out),
        Kind::Pdf => pdf(&file.bytes, &mut out),
        Kind::Image => image(&file.bytes, &mut out),
        Kind::Audio => audio(file, &mut out),
        Kind::Video => video(&file.bytes, &mut out),
    };
    if let Err(why) = outcome {
        out.error = Some(why);
    }
    out
}

fn set_text(out: &mut Extraction, text: &str) {
    let text = text.trim();
    let mut kept: String = text.chars().take(TEXT_LIMIT).collect();
    out.text_truncated = kept.len() < text.len();
    if out.text_truncated {
        kept.push('…');
    }
    out.text = Some(kept);
}

fn document(file: &File, out: &mut Extraction) -> Result<(), String> {
    let text = std::str::from_utf8(&file.bytes).map_err(|_| "the file is not UTF-8 text")?;
    let text = text.trim_start_matches('\u{feff}');
    let ext = kinds::extension(&file.name).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => {
            let rendered = html2text::from_read(text.as_bytes(), 100)
                .map_err(|e| format!("the HTML could not be read: {e}"))?;
            set_text(out, &rendered);
        }
        "csv" => {
            out.rows = Some(text.lines().filter(|l| !l.trim().is_empty()).count() as u64);
            set_text(out, text);
        }
        _ => set_text(out, text),
    }
    Ok(())
}

fn pdf(bytes: &[u8], out: &mut Extraction) -> Result<(), String> {
    let doc = lopdf::Document::load_mem(bytes).map_err(|e| format!("the PDF is malformed: {e}"))?;
    if doc.is_encrypted() {
        return Err("the PDF is encrypted".into());
    }
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    out.pages = Some(pages.len() as u32);
    let mut text = String::new();
    let mut failures = 0;
    for number in pages.iter().take(PDF_PAGES_READ) {
        match doc.extract_text_with_limit(&[*number], PDF_PAGE_LIMIT) {
            Ok(page) => text.push_str(&page),
            Err(_) => failures += 1,
        }
        if text.len() > TEXT_LIMIT * 4 {
            break;
        }
    }
    set_text(out, &text);
    if failures > 0 {
        out.error = Some(format!(
            "the text of {failures} page(s) could not be read (damaged, or inflating past {} MiB)",
            PDF_PAGE_LIMIT / (1024 * 1024)
        ));
    }
    Ok(())
}

fn image(bytes: &[u8], out: &mut Extraction) -> Result<(), String> {
    let size = imagesize::blob_size(bytes)
        .map_err(|e| format!("the image header could not be read: {e}"))?;
    let (width, height) = (size.width as u64, size.height as u64);
    out.width = Some(width);
    out.height = Some(height);
    if width.saturating_mul(height) > kinds::MAX_IMAGE_PIXELS {
        return Err(format!(
            "the image claims {width}×{height} pixels, over the {}-megapixel limit \
             (a decompression bomb); it was not processed further",
            kinds::MAX_IMAGE_PIXELS / 1_000_000
        ));
    }
    // Absent EXIF is normal (most PNGs, screenshots): not an error.
    if let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        read_exif(&exif, out);
    }
    Ok(())
}

fn read_exif(exif: &exif::Exif, out: &mut Extraction) {
    use exif::{In, Tag};
    let text = |tag: Tag| {
        exif.get_field(tag, In::PRIMARY)
            .map(|f| {
                f.display_value()
                    .to_string()
                    .trim_matches('"')
                    .trim()
                    .to_string()
            })
            .filter(|v| !v.is_empty())
    };
    let mut fields = BTreeMap::new();
    for (name, tag) in [
        ("make", Tag::Make),
        ("model", Tag::Model),
        ("software", Tag::Software),
        ("date_time_original", Tag::DateTimeOriginal),
        ("date_time", Tag::DateTime),
        ("artist", Tag::Artist),
        ("image_description", Tag::ImageDescription),
    ] {
        if let Some(value) = text(tag) {
            fields.insert(name.to_string(), value);
        }
    }
    out.taken_at = exif
        .get_field(Tag::DateTimeOriginal, In::PRIMARY)
        .or_else(|| exif.get_field(Tag::DateTime, In::PRIMARY))
        .and_then(|f| match &f.value {
            exif::Value::Ascii(parts) => parts.first().and_then(|raw| {
                exif::DateTime::from_ascii(raw).ok().map(|d| {
                    format!(
                        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                        d.year, d.month, d.day, d.hour, d.minute, d.second
                    )
                })
            }),
            _ => None,
        });
    let coordinate = |value: Tag, reference: Tag, negative: &str| -> Option<f64> {
        let field = exif.get_field(value, In::PRIMARY)?;
        let exif::Value::Rational(parts) = &field.value else {
            return None;
        };
        let [d, m, s] = parts.as_slice() else {
            return None;
        };
        let degrees = d.to_f64() + m.to_f64() / 60.0 + s.to_f64() / 3600.0;
        let sign = match text(reference) {
            Some(r) if r.eq_ignore_ascii_case(negative) => -1.0,
            _ => 1.0,
        };
        degrees.is_finite().then_some(sign * degrees)
    };
    if let (Some(latitude), Some(longitude)) = (
        coordinate(Tag::GPSLatitude, Tag::GPSLatitudeRef, "S"),
        coordinate(Tag::GPSLongitude, Tag::GPSLongitudeRef, "W"),
    ) && (-90.0..=90.0).contains(&latitude)
        && (-180.0..=180.0).contains(&longitude)
    {
        fields.insert("gps".to_string(), format!("{latitude:.6}, {longitude:.6}"));
        out.gps = Some(Gps {
            latitude,
            longitude,
        });
    }
    if !fields.is_empty() {
        out.exif = Some(fields);
    }
}

fn audio(file: &File, out: &mut Extraction) -> Result<(), String> {
    use symphonia::core::{
        codecs::CodecParameters,
        formats::{FormatOptions, probe::Hint},
        io::MediaSourceStream,
        meta::MetadataOptions,
    };
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(file.bytes.clone())),
        Default::default(),
    );
    let mut hint = Hint::new();
    if let Some(ext) = kinds::extension(&file.name) {
        hint.with_extension(&ext);
    }
    let reader = symphonia::default::get_probe()
        .probe(
            &hint,
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| format!("the audio could not be read: {e}"))?;
    let mut longest: Option<f64> = None;
    for track in reader.tracks() {
        let Some(CodecParameters::Audio(params)) = &track.codec_params else {
            continue;
        };
        let seconds = match (track.time_base, track.duration) {
            (Some(base), Some(duration)) => base.calc_duration(duration).map(|t| t.as_secs_f64()),
            _ => match (track.num_frames, params.sample_rate) {
                (Some(frames), Some(rate)) if rate > 0 => Some(frames as f64 / f64::from(rate)),
                _ => None,
            },
        };
        if let Some(s) = seconds {
            longest = Some(longest.map_or(s, |l: f64| l.max(s)));
        }
        out.tracks.push(Track {
            kind: "audio".into(),
            codec: symphonia::default::get_codecs()
                .get_audio_decoder(params.codec)
                .map(|d| d.codec.info.short_name.to_string())
                .unwrap_or_else(|| format!("{:?}", params.codec)),
            width: None,
            height: None,
            sample_rate: params.sample_rate,
            channels: params.channels.as_ref().map(|c| c.count() as u32),
        });
    }
    if out.tracks.is_empty() {
        return Err("the file holds no audio track".into());
    }
    out.duration_seconds = longest.map(round_ms);
    Ok(())
}

fn video(bytes: &[u8], out: &mut Extraction) -> Result<(), String> {
    let reader = mp4::Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64)
        .map_err(|e| format!("the video container could not be read: {e}"))?;
    out.duration_seconds = Some(round_ms(reader.duration().as_secs_f64()));
    let mut ids: Vec<_> = reader.tracks().keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let track = &reader.tracks()[&id];
        let codec = track
            .media_type()
            .map(|m| m.to_string())
            .or_else(|_| track.box_type().map(|b| b.to_string()))
            .unwrap_or_else(|_| "unknown".into());
        match track.track_type() {
            Ok(mp4::TrackType::Video) => out.tracks.push(Track {
                kind: "video".into(),
                codec,
                width: Some(u64::from(track.width())),
                height: Some(u64::from(track.height())),
                sample_rate: None,
                channels: None,
            }),
            Ok(mp4::TrackType::Audio) => out.tracks.push(Track {
                kind: "audio".into(),
                codec,
                width: None,
                height: None,
                sample_rate: track.sample_freq_index().ok().map(|f| f.freq()),
                channels: track.channel_config().ok().map(|c| c as u32),
            }),
            _ => {}
        }
    }
    if let Some(video) = out.tracks.iter().find(|t| t.kind == "video") {
        out.width = video.width;
        out.height = video.height;
    }
    Ok(())
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}
