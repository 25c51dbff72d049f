//! Plain-text helpers every engine can use: splitting a text into candidate claims, finding
//! the links and the years it mentions.

/// Claims taken from one input at most.
pub const MAX_CLAIMS: usize = 20;

/// The sentences of `text` that read as statements or questions worth checking: at least four
/// words, not just a link, trimmed, deduplicated, in order, at most [`MAX_CLAIMS`].
pub fn split(text: &str) -> Vec<String> {
    let mut claims: Vec<String> = Vec::new();
    for line in text.lines() {
        for sentence in sentences(line) {
            let cleaned = without_links(&sentence);
            let words = cleaned.split_whitespace().count();
            if words < 4 {
                continue;
            }
            let sentence = sentence.trim().to_string();
            if !claims.iter().any(|c| c.eq_ignore_ascii_case(&sentence)) {
                claims.push(sentence);
            }
            if claims.len() == MAX_CLAIMS {
                return claims;
            }
        }
    }
    claims
}

/// Splits after `.`, `!` or `?` followed by whitespace, keeping the mark; a dot between
/// digits (3.5) or after a single capital (J. Smith) does not end a sentence.
fn sentences(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..chars.len() {
        let c = chars[i];
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let next_is_space = chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        let initial = c == '.'
            && i >= 1
            && chars[i - 1].is_uppercase()
            && (i == 1 || !chars[i - 2].is_alphanumeric());
        if next_is_space && !initial {
            let sentence: String = chars[start..=i].iter().collect();
            if !sentence.trim().is_empty() {
                out.push(sentence);
            }
            start = i + 1;
        }
    }
    let rest: String = chars[start.min(chars.len())..].iter().collect();
    if !rest.trim().is_empty() {
        out.push(rest);
    }
    out
}

fn without_links(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !is_link(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_link(word: &str) -> bool {
    word.starts_with("http://") || word.starts_with("https://")
}

/// The http(s) links in `text`, in order, without trailing punctuation, deduplicated.
pub fn links(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let Some(start) = word.find("http://").or_else(|| word.find("https://")) else {
            continue;
        };
        let link = word[start..]
            .trim_end_matches(['.', ',', ';', ':', ')', ']', '"', '\'', '!', '?', '>'])
            .to_string();
        if link.len() > "https://".len() && !found.contains(&link) {
            found.push(link);
        }
    }
    found
}

/// The four-digit years (1800–2199) `text` mentions, in order, deduplicated.
pub fn years(text: &str) -> Vec<i32> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let window = &bytes[i..i + 4];
        let bounded = (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && bytes.get(i + 4).is_none_or(|b| !b.is_ascii_alphanumeric());
        if bounded && window.iter().all(u8::is_ascii_digit) {
            let year: i32 = std::str::from_utf8(window)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if (1800..2200).contains(&year) && !found.contains(&year) {
                found.push(year);
            }
            i += 4;
        } else {
            i += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_split_and_short_fragments_dropped() {
        let text = "The Eiffel Tower was finished in 1889. Wow! Is it 330 m tall today?\n\
                    J. Smith said the tower grew 3.5 cm in summer heat. See https://example.org/x.";
        assert_eq!(
            split(text),
            vec![
                "The Eiffel Tower was finished in 1889.",
                "Is it 330 m tall today?",
                "J. Smith said the tower grew 3.5 cm in summer heat.",
            ]
        );
        assert_eq!(links(text), vec!["https://example.org/x"]);
        assert_eq!(years(text), vec![1889]);
        assert_eq!(years("in 20234 or a1999 or 1999s"), Vec::<i32>::new());
        assert_eq!(years("(2019) and 2019, then 2021"), vec![2019, 2021]);
    }

    #[test]
    fn claims_are_capped_and_deduplicated() {
        let text = "This sentence repeats itself here. ".repeat(3)
            + &"A new claim number here. ".repeat(40);
        let claims = split(&text);
        assert_eq!(claims.len(), 2);
        let many: String = (0..50)
            .map(|i| format!("Claim number {i} is here. "))
            .collect();
        assert_eq!(split(&many).len(), MAX_CLAIMS);
    }
}
