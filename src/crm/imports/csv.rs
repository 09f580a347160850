//! Reading an uploaded CSV file: its encoding (UTF-8 with or without a
//! byte order mark, else Windows-1252, what spreadsheet programs on
//! Windows save), its delimiter (comma, semicolon or tab, sniffed from the
//! first lines), and its records, fed part by part so that memory stays
//! flat whatever the file's size. Quoting follows RFC 4180 (csv-core, the
//! state machine under the `csv` crate).

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

/// How the file's bytes are text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    Windows1252,
}

impl Encoding {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Windows1252 => "windows-1252",
        }
    }

    pub(crate) fn parse(label: &str) -> Option<Self> {
        match label {
            "utf-8" => Some(Self::Utf8),
            "windows-1252" => Some(Self::Windows1252),
            _ => None,
        }
    }

    fn decoder(self) -> encoding_rs::Decoder {
        match self {
            Self::Utf8 => encoding_rs::UTF_8.new_decoder_with_bom_removal(),
            Self::Windows1252 => encoding_rs::WINDOWS_1252.new_decoder(),
        }
    }
}

/// The delimiters a file may use, in order of preference on a tie.
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// Lines the delimiter is sniffed from.
const SNIFF_LINES: usize = 20;

/// What the start of a file says about it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Detected {
    pub encoding: Encoding,
    pub delimiter: u8,
    /// The header row, trimmed; an empty header is named by its position.
    pub headers: Vec<String>,
}

/// Reads the start of a file (`whole`: the file ends there).
pub(crate) fn detect(head: &[u8], whole: bool) -> Result<Detected, String> {
    let encoding = if head.starts_with(b"\xEF\xBB\xBF") {
        Encoding::Utf8
    } else {
        match std::str::from_utf8(head) {
            Ok(_) => Encoding::Utf8,
            // Cut off in the middle of a character: the rest is valid.
            Err(error) if error.error_len().is_none() && !whole => Encoding::Utf8,
            Err(_) => Encoding::Windows1252,
        }
    };
    let mut decoder = encoding.decoder();
    let mut text = String::with_capacity(
        decoder
            .max_utf8_buffer_length(head.len())
            .unwrap_or(head.len() * 3),
    );
    let _ = decoder.decode_to_string(head, &mut text, whole);
    let delimiter = sniff(&text, whole);
    let mut records = Records::new(encoding, delimiter);
    let mut first = records.feed(head, whole);
    if first.is_empty() && !whole {
        return Err("the header row is longer than the start of the file we read".into());
    }
    let Some(header) = first.drain(..).next() else {
        return Err("the file is empty".into());
    };
    let headers = header
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let name = name.trim();
            if name.is_empty() {
                format!("column {}", i + 1)
            } else {
                name.to_owned()
            }
        })
        .collect();
    Ok(Detected {
        encoding,
        delimiter,
        headers,
    })
}

/// The delimiter that splits the first lines most consistently into more
/// than one field (a comma when nothing splits them).
fn sniff(text: &str, whole: bool) -> u8 {
    let mut lines: Vec<&str> = text.lines().collect();
    if !whole && lines.len() > 1 {
        // The last line may be cut short.
        lines.pop();
    }
    lines.truncate(SNIFF_LINES);
    let mut best = (b',', 0usize, 0usize);
    for delimiter in DELIMITERS {
        let counts: Vec<usize> = lines
            .iter()
            .map(|line| count_outside_quotes(line, delimiter))
            .collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        if first == 0 {
            continue;
        }
        let consistent = counts.iter().filter(|&&c| c == first).count();
        if (consistent, first) > (best.1, best.2) {
            best = (delimiter, consistent, first);
        }
    }
    best.0
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    let mut count = 0;
    for byte in line.bytes() {
        if byte == b'"' {
            quoted = !quoted;
        } else if byte == delimiter && !quoted {
            count += 1;
        }
    }
    count
}

/// Records out of a file fed to it part by part, in order.
pub(crate) struct Records {
    decoder: encoding_rs::Decoder,
    csv: Reader,
    /// Decoded text not yet read as records.
    text: String,
    /// The record being read: its fields' bytes and where each ends.
    output: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
}

impl Records {
    pub(crate) fn new(encoding: Encoding, delimiter: u8) -> Self {
        Self {
            decoder: encoding.decoder(),
            csv: ReaderBuilder::new().delimiter(delimiter).build(),
            text: String::new(),
            output: vec![0; 4096],
            out_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
        }
    }

    /// Feeds the next part of the file (`last`: nothing follows) and
    /// returns the records it completes, each a list of fields. Bytes that
    /// are not text in the file's encoding read as U+FFFD.
    pub(crate) fn feed(&mut self, bytes: &[u8], last: bool) -> Vec<Vec<String>> {
        self.text.clear();
        self.text.reserve(
            self.decoder
                .max_utf8_buffer_length(bytes.len())
                .unwrap_or(bytes.len() * 3),
        );
        let _ = self.decoder.decode_to_string(bytes, &mut self.text, last);
        let text = std::mem::take(&mut self.text);
        let mut records = Vec::new();
        let mut input = text.as_bytes();
        loop {
            // An empty input tells the reader the file has ended: only at
            // the end (a part that held half a character decodes to none).
            if input.is_empty() && !last {
                break;
            }
            let (result, read, written, ended) = self.csv.read_record(
                input,
                &mut self.output[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            input = &input[read..];
            self.out_len += written;
            self.ends_len += ended;
            match result {
                ReadRecordResult::InputEmpty => {
                    if !last {
                        break;
                    }
                }
                ReadRecordResult::OutputFull => {
                    let grown = self.output.len() * 2;
                    self.output.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    records.push(self.take_record());
                }
                ReadRecordResult::End => break,
            }
        }
        self.text = text;
        records
    }

    fn take_record(&mut self) -> Vec<String> {
        let bytes = &self.output[..self.out_len];
        let mut start = 0;
        let fields = self.ends[..self.ends_len]
            .iter()
            .map(|&end| {
                // Split at ASCII delimiters of UTF-8 text: always whole
                // characters.
                let field = String::from_utf8_lossy(&bytes[start..end]).into_owned();
                start = end;
                field
            })
            .collect();
        self.out_len = 0;
        self.ends_len = 0;
        fields
    }
}

/// Whether a record has nothing in it (a blank line).
pub(crate) fn is_blank(record: &[String]) -> bool {
    record.iter().all(|field| field.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8], encoding: Encoding, delimiter: u8, part: usize) -> Vec<Vec<String>> {
        let mut records = Records::new(encoding, delimiter);
        let mut out = Vec::new();
        let chunks: Vec<&[u8]> = bytes.chunks(part).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            out.extend(records.feed(chunk, i + 1 == chunks.len()));
        }
        out
    }

    #[test]
    fn utf8_with_a_bom_and_semicolons() {
        let file = "\u{feff}E-Mail;Vorname;Stadt\nada@example.org;Ada;Köln\n".as_bytes();
        let detected = detect(file, true).unwrap();
        assert_eq!(detected.encoding, Encoding::Utf8);
        assert_eq!(detected.delimiter, b';');
        assert_eq!(detected.headers, ["E-Mail", "Vorname", "Stadt"]);
        let records = all(file, Encoding::Utf8, b';', 3);
        assert_eq!(records[1], ["ada@example.org", "Ada", "Köln"]);
    }

    #[test]
    fn windows_1252_is_told_from_utf8() {
        // "Müller" with ü as the single byte 0xFC.
        let file = b"name,city\nM\xFCller,Z\xFCrich\n";
        let detected = detect(file, true).unwrap();
        assert_eq!(detected.encoding, Encoding::Windows1252);
        let records = all(file, Encoding::Windows1252, b',', 4);
        assert_eq!(records[1], ["Müller", "Zürich"]);
    }

    #[test]
    fn tabs_are_sniffed_and_quotes_keep_delimiters_and_newlines() {
        let file =
            b"email\tnote\na@x.org\t\"one, two\tthree\nfour \"\"quoted\"\"\"\nb@x.org\tplain\n";
        let detected = detect(file, true).unwrap();
        assert_eq!(detected.delimiter, b'\t');
        let records = all(file, Encoding::Utf8, b'\t', 5);
        assert_eq!(records.len(), 3);
        assert_eq!(records[1][1], "one, two\tthree\nfour \"quoted\"");
        assert_eq!(records[2], ["b@x.org", "plain"]);
    }

    #[test]
    fn a_part_boundary_inside_a_character_or_a_quote_changes_nothing() {
        let file = "a,b\n\"x,ü\",ß\n".as_bytes();
        for part in 1..file.len() {
            assert_eq!(
                all(file, Encoding::Utf8, b',', part),
                [vec!["a", "b"], vec!["x,ü", "ß"]],
                "parts of {part} bytes"
            );
        }
    }

    #[test]
    fn a_utf8_start_cut_mid_character_is_still_utf8_and_empty_headers_are_named() {
        let head = "email,,city\nada@example.org,x,Köln".as_bytes();
        let cut = &head[..head.len() - 2];
        let detected = detect(cut, false).unwrap();
        assert_eq!(detected.encoding, Encoding::Utf8);
        assert_eq!(detected.headers, ["email", "column 2", "city"]);
        assert_eq!(detect(b"", true).unwrap_err(), "the file is empty");
    }

    #[test]
    fn no_delimiter_at_all_means_one_column_split_by_commas() {
        let detected = detect(b"email\na@x.org\n", true).unwrap();
        assert_eq!(detected.delimiter, b',');
        assert_eq!(detected.headers, ["email"]);
    }
}
