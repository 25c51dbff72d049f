//! The attachment kinds Clara processes: which extensions, what their content must look like
//! (magic bytes, never the name alone), and how large each may be. The one list behind both
//! the upload checks and `agent_supported_attachments`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// At most this many files per analysis.
pub const MAX_FILES: usize = 5;
/// Images larger than this are not processed (a decompression bomb fails its file).
pub const MAX_IMAGE_PIXELS: u64 = 100_000_000;

const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Audio,
    Document,
    Image,
    Pdf,
    Video,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Self::Audio,
        Self::Document,
        Self::Image,
        Self::Pdf,
        Self::Video,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Image => "image",
            Self::Pdf => "pdf",
            Self::Video => "video",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The largest file of this kind, in bytes.
    pub fn max_bytes(self) -> u64 {
        match self {
            Self::Audio => 25 * MIB,
            Self::Document => 5 * MIB,
            Self::Image => 20 * MIB,
            Self::Pdf => 20 * MIB,
            Self::Video => 40 * MIB,
        }
    }
}

/// What a file's content must be for its extension.
#[derive(Debug, Clone, Copy)]
enum Content {
    /// One of these media types, by magic bytes.
    Magic(&'static [&'static str]),
    /// UTF-8 text without NUL bytes.
    Text,
    /// UTF-8 text that parses as JSON.
    Json,
}

const TEXT: Content = Content::Text;
const FORMATS: &[(&str, Kind, Content)] = &[
    (
        "m4a",
        Kind::Audio,
        Content::Magic(&["audio/m4a", "video/mp4"]),
    ),
    ("mp3", Kind::Audio, Content::Magic(&["audio/mpeg"])),
    ("wav", Kind::Audio, Content::Magic(&["audio/x-wav"])),
    ("flac", Kind::Audio, Content::Magic(&["audio/x-flac"])),
    ("ogg", Kind::Audio, Content::Magic(&["audio/ogg"])),
    ("txt", Kind::Document, TEXT),
    ("md", Kind::Document, TEXT),
    ("csv", Kind::Document, TEXT),
    ("json", Kind::Document, Content::Json),
    ("html", Kind::Document, TEXT),
    ("htm", Kind::Document, TEXT),
    ("jpg", Kind::Image, Content::Magic(&["image/jpeg"])),
    ("jpeg", Kind::Image, Content::Magic(&["image/jpeg"])),
    ("png", Kind::Image, Content::Magic(&["image/png"])),
    ("gif", Kind::Image, Content::Magic(&["image/gif"])),
    ("webp", Kind::Image, Content::Magic(&["image/webp"])),
    ("tif", Kind::Image, Content::Magic(&["image/tiff"])),
    ("tiff", Kind::Image, Content::Magic(&["image/tiff"])),
    ("pdf", Kind::Pdf, Content::Magic(&["application/pdf"])),
    (
        "mp4",
        Kind::Video,
        Content::Magic(&["video/mp4", "audio/m4a"]),
    ),
    (
        "m4v",
        Kind::Video,
        Content::Magic(&["video/x-m4v", "video/mp4"]),
    ),
    (
        "mov",
        Kind::Video,
        Content::Magic(&["video/quicktime", "video/mp4"]),
    ),
];

/// The lower-cased extension of a file name, without the dot.
pub fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// The extensions of a kind, with their dots, e.g. `.jpg`.
pub fn extensions(kind: Kind) -> Vec<String> {
    FORMATS
        .iter()
        .filter(|(_, k, _)| *k == kind)
        .map(|(ext, ..)| format!(".{ext}"))
        .collect()
}

/// The kind of a file, or why it is refused: an unsupported extension, content that is not
/// what the extension says, or a size over the kind's limit.
pub fn check(name: &str, bytes: &[u8]) -> Result<Kind, String> {
    let ext = extension(name).ok_or("has no file extension")?;
    let (_, kind, content) = FORMATS
        .iter()
        .find(|(e, ..)| *e == ext)
        .ok_or_else(|| format!("has an unsupported extension (.{ext})"))?;
    if bytes.is_empty() {
        return Err("is empty".into());
    }
    let size = bytes.len() as u64;
    if size > kind.max_bytes() {
        return Err(format!(
            "is {size} bytes, over the {} MiB limit for {} files",
            kind.max_bytes() / MIB,
            kind.as_str()
        ));
    }
    match content {
        Content::Magic(types) => {
            let found = infer::get(bytes).map(|t| t.mime_type());
            if !found.is_some_and(|m| types.contains(&m)) {
                let seen = found.unwrap_or("unrecognised data");
                return Err(format!(
                    "is not a .{ext} file: its content is {seen} (expected {})",
                    types.join(" or ")
                ));
            }
        }
        Content::Text | Content::Json => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| format!("is not a .{ext} file: it is not UTF-8 text"))?;
            if text.contains('\0') {
                return Err(format!("is not a .{ext} file: it holds binary data"));
            }
            if matches!(content, Content::Json)
                && serde_json::from_str::<serde::de::IgnoredAny>(text).is_err()
            {
                return Err("is not a .json file: it does not parse as JSON".into());
            }
        }
    }
    Ok(*kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_not_the_name() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(check("a.png", png), Ok(Kind::Image));
        assert_eq!(check("A.PNG", png), Ok(Kind::Image));
        assert!(check("a.jpg", png).unwrap_err().contains("image/png"));
        assert!(check("a.pdf", b"hello").unwrap_err().contains("not a .pdf"));
        assert_eq!(check("notes.md", b"# Title\n"), Ok(Kind::Document));
        assert!(check("notes.txt", b"a\0b").is_err());
        assert!(check("data.json", b"{oops").unwrap_err().contains("JSON"));
        assert!(check("x.exe", b"MZ").unwrap_err().contains("unsupported"));
        assert!(check("README", b"x").unwrap_err().contains("extension"));
        assert!(check(".png", png).is_err());
        assert!(check("a.txt", b"").unwrap_err().contains("empty"));
        let big = vec![b'a'; (Kind::Document.max_bytes() + 1) as usize];
        assert!(check("big.txt", &big).unwrap_err().contains("limit"));
    }

    #[test]
    fn every_kind_lists_its_extensions() {
        for kind in Kind::ALL {
            assert!(!extensions(kind).is_empty(), "{kind:?}");
        }
        assert!(extensions(Kind::Image).contains(&".jpeg".to_string()));
    }
}
