//! Sample files of every kind, generated here (no binary fixtures): a PDF with text, a JPEG and
//! a PNG carrying EXIF with a date and GPS, a WAV, an MP4 with a video track, CSV and HTML;
//! and broken ones (a malformed PDF, a decompression-bomb PNG).

use std::io::Cursor;

use base64::Engine as _;
use serde_json::{Value, json};

/// `{name, content_base64}`, the MCP attachment shape.
pub fn attachment(name: &str, bytes: &[u8]) -> Value {
    json!({"name": name, "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes)})
}

/// A one-page PDF whose page says `text`.
pub fn pdf(text: &str) -> Vec<u8> {
    pdf_pages(&[text])
}

/// A PDF with one page per entry of `pages`, each saying its text.
pub fn pdf_pages(pages: &[&str]) -> Vec<u8> {
    use lopdf::{
        Document, Object, Stream,
        content::{Content, Operation},
        dictionary,
    };
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids: Vec<Object> = Vec::new();
    for text in pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 14.into()]),
                Operation::new("Td", vec![72.into(), 720.into()]),
                Operation::new("Tj", vec![Object::string_literal(*text)]),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count,
            "Resources" => resources_id, "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// A TIFF block with a capture date, a Software tag and a GPS position (Paris, the Eiffel
/// Tower: 48°51'30.24" N, 2°17'40.2" E).
fn exif_tiff(taken: &str) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value as V};
    let r = |n: u32, d: u32| Rational { num: n, denom: d };
    let fields = [
        Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: V::Ascii(vec![taken.as_bytes().to_vec()]),
        },
        Field {
            tag: Tag::Software,
            ifd_num: In::PRIMARY,
            value: V::Ascii(vec![b"PhotoEditor 9".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitudeRef,
            ifd_num: In::PRIMARY,
            value: V::Ascii(vec![b"N".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: V::Rational(vec![r(48, 1), r(51, 1), r(3024, 100)]),
        },
        Field {
            tag: Tag::GPSLongitudeRef,
            ifd_num: In::PRIMARY,
            value: V::Ascii(vec![b"E".to_vec()]),
        },
        Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: V::Rational(vec![r(2, 1), r(17, 1), r(402, 10)]),
        },
    ];
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    let mut out = Cursor::new(Vec::new());
    writer.write(&mut out, false).unwrap();
    out.into_inner()
}

/// A complete baseline JPEG of `width`×`height` mid-grey pixels (one component, so every 8×8
/// block is a zero DC difference and an end-of-block: two one-bit Huffman codes) with APP1
/// EXIF; any decoder opens it, and it stays small (12 MP is 47 KB).
pub fn jpeg(width: u16, height: u16, taken: &str) -> Vec<u8> {
    let tiff = exif_tiff(taken);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    // DQT: table 0, all ones.
    out.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    out.extend_from_slice(&[1u8; 64]);
    // SOF0: 8-bit, height, width, one component (id 1, 1×1 sampling, table 0).
    out.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
    // DHT: DC table 0 and AC table 0, each one code of length 1 for symbol 0 (DC: difference 0;
    // AC: end of block).
    for class in [0x00u8, 0x10] {
        out.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, class, 1]);
        out.extend_from_slice(&[0u8; 15]);
        out.push(0);
    }
    // SOS: one component, tables 0/0, full spectral range.
    out.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
    let blocks = usize::from(width).div_ceil(8) * usize::from(height).div_ceil(8);
    let bits = blocks * 2;
    out.extend(std::iter::repeat_n(0u8, bits / 8));
    if bits % 8 != 0 {
        out.push(0xFF >> (bits % 8)); // pad the last byte with one-bits
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc_input);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG header of `width`×`height` with an eXIf chunk (the pixel data is not needed: Clara
/// never decodes pixels).
pub fn png(width: u32, height: u32, taken: Option<&str>) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    if let Some(taken) = taken {
        png_chunk(&mut out, b"eXIf", &exif_tiff(taken));
    }
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// `seconds` of 8 kHz mono 16-bit silence.
pub fn wav(seconds: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
    for _ in 0..seconds * 8000 {
        writer.write_sample(0i16).unwrap();
    }
    writer.finalize().unwrap();
    out.into_inner()
}

/// An MP4 with one 320×240 H.264 video track of `seconds` one-second samples.
pub fn mp4(seconds: u32) -> Vec<u8> {
    use mp4::{
        AvcConfig, FourCC, MediaConfig, Mp4Config, Mp4Sample, Mp4Writer, TrackConfig, TrackType,
    };
    let config = Mp4Config {
        major_brand: FourCC::from(*b"isom"),
        minor_version: 512,
        compatible_brands: vec![FourCC::from(*b"isom"), FourCC::from(*b"avc1")],
        timescale: 1000,
    };
    let mut writer = Mp4Writer::write_start(Cursor::new(Vec::new()), &config).unwrap();
    writer
        .add_track(&TrackConfig {
            track_type: TrackType::Video,
            timescale: 1000,
            language: "und".into(),
            media_conf: MediaConfig::AvcConfig(AvcConfig {
                width: 320,
                height: 240,
                seq_param_set: vec![0x67, 0x42, 0x00, 0x1E, 0x95, 0xA8, 0x28, 0x0F, 0x64],
                pic_param_set: vec![0x68, 0xCE, 0x38, 0x80],
            }),
        })
        .unwrap();
    for n in 0..seconds {
        let sample = Mp4Sample {
            start_time: u64::from(n) * 1000,
            duration: 1000,
            rendering_offset: 0,
            is_sync: true,
            bytes: bytes::Bytes::from(vec![0u8; 16]),
        };
        writer.write_sample(1, &sample).unwrap();
    }
    writer.write_end().unwrap();
    writer.into_writer().into_inner()
}
