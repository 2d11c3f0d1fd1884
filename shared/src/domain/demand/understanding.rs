//! Understanding a demand however the customer gave it: typed text in
//! Bangla, English or both, a speech transcript, or labels from on-device
//! picture recognition. Everything goes through the same line parser; what
//! it cannot read comes back as an `unmatched` item carrying the customer's
//! words, and guesses (spelling, extra words, low speech confidence) come
//! back `uncertain`, so the customer can edit before ordering.

use std::ops::Range;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::catalogue::{Catalogue, Recipe};
use super::item::{DemandError, DemandItem, ItemStatus, MAX_DEMAND_LINES, MAX_DEMAND_TEXT_CHARS, MAX_ITEM_NAME_CHARS};
use super::language::Language;
use super::quantity::{MAX_AMOUNT, Quantity, Unit};
use super::words::{
    fold, has_bangla, is_conjunction, is_event_word, is_filler, is_hundred_word, is_people_word, is_quarter_word,
    is_seer_word, latin_digit, number_word, prefix_change, split_classifier, word_spans, words,
};

/// Below this, a recognised word or picture label is flagged, not trusted.
pub const LOW_CONFIDENCE: f32 = 0.6;
/// Largest party a recipe is scaled for.
pub const MAX_PARTY_SIZE: u32 = 500;

/// What the app sends: any of typed text, a transcript, picture labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The language the customer typed in, when the app knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<VoiceInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pictures: Vec<PictureLabel>,
}

/// A speech-recogniser transcript.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceInput {
    pub transcript: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// The recogniser's confidence in the whole transcript, 0 to 1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_confidence"
    )]
    #[schemars(range(min = 0, max = 1))]
    pub confidence: Option<f32>,
    /// Per-word confidences, when the recogniser gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<WordConfidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WordConfidence {
    pub word: String,
    /// 0 to 1.
    #[serde(deserialize_with = "confidence")]
    #[schemars(range(min = 0, max = 1))]
    pub confidence: f32,
}

/// A recogniser's confidence: 0 to 1. Anything else (7.5) would read as
/// sure and pass a misheard line unflagged.
fn confidence<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    zero_to_one(f32::deserialize(deserializer)?)
}

fn optional_confidence<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<f32>, D::Error> {
    Option::<f32>::deserialize(deserializer)?.map(zero_to_one).transpose()
}

fn zero_to_one<E: serde::de::Error>(value: f32) -> Result<f32, E> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(E::invalid_value(
            serde::de::Unexpected::Float(f64::from(value)),
            &"a confidence from 0 to 1",
        ))
    }
}

/// One label from on-device image recognition, e.g. "rice bag".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PictureLabel {
    pub label: String,
    /// How many the picture showed, when the recogniser counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_confidence"
    )]
    #[schemars(range(min = 0, max = 1))]
    pub confidence: Option<f32>,
}

/// The demand as understood, for the customer to check and edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Understood {
    pub items: Vec<DemandItem>,
    /// The customer's language: the hint, or what the text is written in.
    pub language: Language,
    /// Recipes used for event lines ("polao for 6"), to show the customer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipes: Vec<RecipeUse>,
    /// Items the customer should look at, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flagged: Vec<Flag>,
}

/// A recipe scaled for a party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecipeUse {
    pub recipe: String,
    pub recipe_bn: String,
    pub people: u32,
    /// The customer's words for the event.
    pub said: String,
}

/// An item that needs the customer's eye.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Flag {
    /// Index into `Understood::items`.
    pub item: usize,
    pub said: String,
    pub reason: FlagReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagReason {
    /// No catalogue item or recipe fits.
    NotUnderstood,
    /// Read as the nearest catalogue spelling ("rise" as rice).
    Spelling,
    /// The item was recognised, with words around it that were not.
    ExtraWords,
    /// The speech recogniser or the picture recogniser was unsure.
    LowConfidence,
    /// A party size without a dish the recipe table knows.
    UnknownRecipe,
}

/// Understands a demand request against a catalogue.
pub fn understand(request: &DemandRequest, catalogue: &Catalogue) -> Result<Understood, DemandError> {
    let mut segments: Vec<Segment> = Vec::new();
    let mut language_seen = String::new();
    if let Some(text) = &request.text {
        check_text_length(text)?;
        language_seen.push_str(text);
        segments.extend(split_segments(text).into_iter().map(|said| Segment {
            said,
            low_confidence: false,
            picture: None,
        }));
    }
    if let Some(voice) = &request.voice {
        check_text_length(&voice.transcript)?;
        language_seen.push_str(&voice.transcript);
        let all_unsure = voice.confidence.is_some_and(|c| c < LOW_CONFIDENCE);
        let unsure_words: Vec<String> = voice
            .words
            .iter()
            .filter(|w| w.confidence < LOW_CONFIDENCE)
            // Read as the transcript is ("1,500" is one amount).
            .flat_map(|w| words(&fold(&without_thousands_separators(&w.word))))
            .collect();
        segments.extend(split_segments(&voice.transcript).into_iter().map(|said| {
            let low_confidence = all_unsure || words(&fold(&said)).iter().any(|w| unsure_words.contains(w));
            Segment {
                said,
                low_confidence,
                picture: None,
            }
        }));
    }
    for (picture, label) in request.pictures.iter().enumerate() {
        // A label naming nothing is refused as a typed line without a name is.
        if !label.label.chars().any(char::is_alphanumeric) {
            return Err(DemandError::BlankPictureLabel { picture });
        }
        segments.push(Segment {
            said: label.label.trim().to_string(),
            low_confidence: label.confidence.is_some_and(|c| c < LOW_CONFIDENCE),
            picture: Some(label.count),
        });
    }
    match segments.len() {
        0 => return Err(DemandError::Empty),
        n if n > MAX_DEMAND_LINES => return Err(DemandError::TooManyLines),
        _ => {}
    }
    let language = request
        .language
        .or_else(|| request.voice.as_ref().and_then(|v| v.language))
        .unwrap_or(if has_bangla(&language_seen) {
            Language::Bn
        } else {
            Language::En
        });
    let mut understood = Understood {
        items: Vec::new(),
        language,
        recipes: Vec::new(),
        flagged: Vec::new(),
    };
    for (i, segment) in segments.iter().enumerate() {
        understand_segment(i + 1, segment, catalogue, &mut understood)?;
    }
    Ok(understood)
}

struct Segment {
    said: String,
    low_confidence: bool,
    /// Some(count) for a picture label.
    picture: Option<Option<u32>>,
}

fn check_text_length(text: &str) -> Result<(), DemandError> {
    if text.chars().count() > MAX_DEMAND_TEXT_CHARS {
        return Err(DemandError::TextTooLong);
    }
    Ok(())
}

/// Splits text into the customer's lines: new lines, commas, semicolons,
/// the Bangla full stop, '&', '+', and joining words ("and", "আর", "ও").
/// Each part keeps the customer's own spelling.
#[must_use]
pub fn split_segments(text: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let text = without_thousands_separators(text);
    for part in text.split(['\n', '\r', ',', ';', '।', '&', '+', '|']) {
        let mut current: Vec<&str> = Vec::new();
        let all: Vec<&str> = part.split_whitespace().collect();
        for (i, &word) in all.iter().enumerate() {
            if is_conjunction(&fold(word)) && !joins_a_fraction(&all, i) {
                push_segment(&mut segments, &current);
                current.clear();
            } else {
                current.push(word);
            }
        }
        push_segment(&mut segments, &current);
    }
    segments
}

/// The text with the commas that group thousands taken out: "1,500 ml
/// milk" is 1500 ml, not "1" and "500 ml" (a comma between a digit and
/// exactly three digits, in Latin or Bangla digits). Any other comma still
/// separates lines.
fn without_thousands_separators(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let digit = |i: usize| chars.get(i).is_some_and(|c| latin_digit(*c).is_ascii_digit());
    let mut kept = String::with_capacity(text.len());
    // The digits since the last character that is not one, and whether a
    // grouping comma came before them ("1,000,000").
    let (mut run, mut grouped) = (String::new(), false);
    for (i, &c) in chars.iter().enumerate() {
        if digit(i) {
            run.push(latin_digit(c));
            kept.push(c);
            continue;
        }
        // A group leads with 1 to 3 digits, not a 0 ("0,500" is no
        // thousand), and every group after it has exactly 3.
        let leads = grouped || (1..=3).contains(&run.len()) && !run.starts_with('0');
        if c == ',' && leads && (1..=3).all(|k| digit(i + k)) && !digit(i + 4) {
            run.clear();
            grouped = true;
            continue;
        }
        run.clear();
        grouped = false;
        kept.push(c);
    }
    kept
}

/// Whether the "and" at `at` is inside an amount: "one and a half kg",
/// "2 and a quarter litre".
fn joins_a_fraction(all: &[&str], at: usize) -> bool {
    let folded = |i: usize| all.get(i).map(|w| fold(w));
    if folded(at).as_deref() != Some("and") {
        return false;
    }
    let after_number = at
        .checked_sub(1)
        .and_then(folded)
        .is_some_and(|w| number(&w).is_some() || number_word(&w).is_some());
    let mut next = at + 1;
    if matches!(folded(next).as_deref(), Some("a" | "an")) {
        next += 1;
    }
    after_number && matches!(folded(next).as_deref(), Some("half" | "quarter"))
}

fn push_segment(segments: &mut Vec<String>, words: &[&str]) {
    let joined = words.join(" ");
    let trimmed = joined.trim_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '.' | '*' | '•' | ':'));
    if trimmed.chars().any(|c| c.is_alphanumeric()) {
        segments.push(trimmed.to_string());
    }
}

/// A folded word of a segment and where the customer typed it.
type Token = (String, Range<usize>);

/// Folded words of one segment, with glued classifiers ("দুইটা") split,
/// each with the byte range of the customer's text it came from.
fn segment_tokens(said: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (word, span) in word_spans(said) {
        match split_classifier(&word) {
            Some((stem, suffix)) => {
                out.push((stem.to_string(), span.clone()));
                out.push((suffix.to_string(), span));
            }
            None => out.push((word, span)),
        }
    }
    out
}

fn understand_segment(
    line: usize,
    segment: &Segment,
    catalogue: &Catalogue,
    understood: &mut Understood,
) -> Result<(), DemandError> {
    let said = segment.said.as_str();
    if said.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(DemandError::BadCharacters { line });
    }
    let spans = segment_tokens(said);
    let tokens: Vec<String> = spans.iter().map(|(w, _)| w.clone()).collect();
    if segment.picture.is_none()
        && let Some(event) = find_event(&tokens, catalogue)
    {
        return expand_event(line, said, event, catalogue, understood);
    }
    let parts = match segment.picture {
        Some(count) => vec![(parse_picture(&tokens, count, catalogue), 0..said.len())],
        None => parse_item_parts(&spans, said, catalogue),
    };
    for (mut parsed, span) in parts {
        if segment.low_confidence {
            parsed.reason = Some(FlagReason::LowConfidence);
            if parsed.status == ItemStatus::Matched {
                parsed.status = ItemStatus::Uncertain;
            }
        }
        let part_said = said.get(span).map_or(said, str::trim);
        let item = parsed.to_item(line, part_said, catalogue)?;
        push_item(understood, item, parsed.reason);
    }
    Ok(())
}

fn push_item(understood: &mut Understood, item: DemandItem, reason: Option<FlagReason>) {
    if let Some(reason) = reason {
        understood.flagged.push(Flag {
            item: understood.items.len(),
            said: item.said.clone().unwrap_or_else(|| item.name.clone()),
            reason,
        });
    }
    understood.items.push(item);
}

/// An amount read from the words, before the item says what a bare number
/// means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReadAmount {
    amount: Decimal,
    unit: Option<Unit>,
}

/// One item line as read: the amount, the catalogue item (if any) and the
/// words that named it.
#[derive(Debug, Clone)]
struct ParsedLine {
    amount: Option<ReadAmount>,
    item: Option<usize>,
    item_words: Vec<String>,
    status: ItemStatus,
    reason: Option<FlagReason>,
}

impl ParsedLine {
    fn to_item(&self, line: usize, said: &str, catalogue: &Catalogue) -> Result<DemandItem, DemandError> {
        let known = self.item.and_then(|i| catalogue.item(i));
        let quantity = match self.amount {
            None => None,
            Some(read) => {
                let unit = read.unit.or(known.map(|k| k.unit)).unwrap_or(Unit::Piece);
                let quantity = Quantity {
                    amount: read.amount,
                    unit,
                };
                if quantity.amount <= Decimal::ZERO || quantity.amount > MAX_AMOUNT {
                    return Err(DemandError::AmountOutOfRange { line });
                }
                Some(quantity.normalized())
            }
        };
        let item = match known {
            Some(k) => DemandItem {
                said: (self.status != ItemStatus::Matched).then(|| said.to_string()),
                ..DemandItem::known(k, quantity, self.status)
            },
            None => {
                // An unread line keeps the customer's exact words as its
                // name and no quantity: nothing is invented, and the
                // customer edits it. Its tag is the item words, so a store
                // listing them can still match.
                let name = said.trim().to_string();
                if name.chars().count() > MAX_ITEM_NAME_CHARS {
                    return Err(DemandError::NameTooLong { line });
                }
                let tag = if self.item_words.is_empty() {
                    words(&fold(&name)).join(" ")
                } else {
                    self.item_words.join(" ")
                };
                DemandItem {
                    tag,
                    name,
                    name_bn: None,
                    category: None,
                    quantity: None,
                    status: ItemStatus::Unmatched,
                    said: Some(said.to_string()),
                    recipe: None,
                }
            }
        };
        Ok(item)
    }
}

/// One segment's items. Usually one ("2 kg rice", "rice 2kg", "এক হালি
/// ডিম", "আমার ২ কেজি চাল লাগবে"); several when only their amounts
/// separate them ("2kg rice 1kg sugar", "চাল ২ কেজি ডাল ১ কেজি"). Each
/// comes with the byte range of the customer's words for it.
///
/// An amount is never moved to another item: several items are read only
/// when each has its own amount next to it and one reading fits; otherwise
/// the line comes back unmatched, in the customer's words.
fn parse_item_parts(tokens: &[Token], said: &str, catalogue: &Catalogue) -> Vec<(ParsedLine, Range<usize>)> {
    let kept: Vec<&Token> = tokens.iter().filter(|(w, _)| !is_filler(w)).collect();
    let words: Vec<&str> = kept.iter().map(|(w, _)| w.as_str()).collect();
    let whole = 0..said.len();
    let span_of = |start: usize, end: usize| match (kept.get(start), end.checked_sub(1).and_then(|e| kept.get(e))) {
        (Some(first), Some(last)) => first.1.start..last.1.end,
        _ => whole.clone(),
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match read_amount(&words, i) {
            Some((amount, used)) => {
                found.push((i, used, amount));
                i += used;
            }
            None => i += 1,
        }
    }
    // Each of several items has its own amount: one amount is one item.
    if found.len() >= 2
        && let Some(parts) = split_by_amounts(&words, catalogue)
    {
        return parts
            .into_iter()
            .map(|part| {
                let parsed = ParsedLine {
                    amount: Some(part.amount),
                    item: Some(part.item),
                    item_words: Vec::new(),
                    status: ItemStatus::Matched,
                    reason: None,
                };
                (parsed, span_of(part.start, part.end))
            })
            .collect();
    }
    match found.as_slice() {
        [] => vec![(match_item(&words, catalogue), whole)],
        &[(start, used, amount)] => {
            let item_words = if start == 0 {
                &words[used..]
            } else if start + used == words.len() {
                &words[..start]
            } else {
                &words[..]
            };
            let mut parsed = match_item(item_words, catalogue);
            if start == 0 || start + used == words.len() {
                parsed.amount = Some(amount);
            }
            vec![(parsed, whole)]
        }
        several => match pair_alternating(&words, several, catalogue) {
            Some(parts) => parts
                .into_iter()
                .map(|(parsed, start, end)| (parsed, span_of(start, end)))
                .collect(),
            None => vec![(match_item(&[], catalogue), whole)],
        },
    }
}

/// An item read from part of a line, with its own amount.
#[derive(Debug, Clone, Copy)]
struct Part {
    start: usize,
    end: usize,
    amount: ReadAmount,
    item: usize,
}

/// The one way to read the words as two or more catalogue items, each with
/// an amount right before or right after its name, using every word; None
/// when there is no such reading or more than one.
fn split_by_amounts(words: &[&str], catalogue: &Catalogue) -> Option<Vec<Part>> {
    #[derive(Clone, Copy)]
    struct Best {
        items: usize,
        ways: u8,
        part: Option<Part>,
        next: usize,
    }
    let n = words.len();
    let amounts: Vec<Option<(ReadAmount, usize)>> = (0..n).map(|i| read_amount(words, i)).collect();
    let longest = catalogue.longest_phrase();
    let names: Vec<Vec<(usize, usize)>> = (0..n)
        .map(|i| {
            (i + 1..=n.min(i + longest))
                .filter_map(|j| exact_item(&words[i..j], catalogue).map(|item| (j, item)))
                .collect()
        })
        .collect();
    let no_names: Vec<(usize, usize)> = Vec::new();
    let names_at = |i: usize| names.get(i).unwrap_or(&no_names);
    let mut best: Vec<Option<Best>> = vec![None; n + 1];
    best[n] = Some(Best {
        items: 0,
        ways: 1,
        part: None,
        next: n,
    });
    for i in (0..n).rev() {
        let mut here: Option<Best> = None;
        let mut consider = |part: Part, next: usize| {
            let Some(after) = best.get(next).copied().flatten() else {
                return;
            };
            let items = after.items + 1;
            match &mut here {
                Some(h) if h.items < items => {}
                Some(h) if h.items == items => h.ways = h.ways.saturating_add(after.ways).min(2),
                _ => {
                    here = Some(Best {
                        items,
                        ways: after.ways,
                        part: Some(part),
                        next,
                    });
                }
            }
        };
        if let Some((amount, used)) = amounts[i] {
            for &(end, item) in names_at(i + used) {
                consider(
                    Part {
                        start: i,
                        end,
                        amount,
                        item,
                    },
                    end,
                );
            }
        }
        for &(end, item) in names_at(i) {
            if let Some((amount, used)) = amounts.get(end).copied().flatten() {
                consider(
                    Part {
                        start: i,
                        end: end + used,
                        amount,
                        item,
                    },
                    end + used,
                );
            }
        }
        best[i] = here;
    }
    let first = best[0]?;
    if first.ways != 1 || first.items < 2 {
        return None;
    }
    let mut parts: Vec<Part> = Vec::new();
    let mut at = first;
    while let Some(part) = at.part {
        // The same item twice ("1 loaf bread") is one item said twice.
        if parts.iter().any(|p| p.item == part.item) {
            return None;
        }
        parts.push(part);
        at = best.get(at.next).copied().flatten()?;
    }
    Some(parts)
}

/// Amounts and words taking turns, "2kg rise 1kg suger" or "rice 2kg xyz
/// 1kg": each run of words gets the amount on the side the line starts
/// with. None when they do not take turns evenly.
fn pair_alternating(
    words: &[&str],
    amounts: &[(usize, usize, ReadAmount)],
    catalogue: &Catalogue,
) -> Option<Vec<(ParsedLine, usize, usize)>> {
    // Blocks in order: Ok(amount) or Err(word run).
    let mut blocks: Vec<(usize, usize, Option<ReadAmount>)> = Vec::new();
    let mut at = 0;
    for &(start, used, amount) in amounts {
        if start > at {
            blocks.push((at, start, None));
        }
        blocks.push((start, start + used, Some(amount)));
        at = start + used;
    }
    if at < words.len() {
        blocks.push((at, words.len(), None));
    }
    if !blocks.len().is_multiple_of(2) {
        return None;
    }
    let amount_first = blocks.first()?.2.is_some();
    blocks
        .chunks(2)
        .map(|pair| {
            let (amount, run) = if amount_first {
                (pair[0], pair[1])
            } else {
                (pair[1], pair[0])
            };
            let amount = amount.2?;
            if run.2.is_some() {
                return None;
            }
            let mut parsed = match_item(&words[run.0..run.1], catalogue);
            parsed.amount = Some(amount);
            Some((parsed, pair[0].0, pair[1].1))
        })
        .collect()
}

/// A number as read, with where it ends.
struct ReadNumber {
    value: Decimal,
    /// Romanised words that are also English ("tin") count only before a unit.
    needs_unit: bool,
    next: usize,
    /// পোয়া with no unit after it means a quarter kilo.
    seer: bool,
}

/// Reads an amount starting at `at`; returns it and how many words it used.
fn read_amount(words: &[&str], at: usize) -> Option<(ReadAmount, usize)> {
    let Some(number) = read_number(words, at) else {
        // "dozen eggs", "হালি ডিম": the unit alone means one of it.
        let (unit, times) = unit_word(words.get(at)?)?;
        if unit == Unit::Piece && times == Decimal::ONE {
            return None;
        }
        return Some((in_whole_units(times, unit), 1));
    };
    let mut next = number.next;
    // "half a kg", "half a dozen".
    if matches!(words.get(next), Some(&("a" | "an"))) && words.get(next + 1).is_some_and(|w| unit_word(w).is_some()) {
        next += 1;
    }
    match words.get(next).and_then(|w| unit_word(w)) {
        Some((unit, times)) => Some((in_whole_units(number.value * times, unit), next + 1 - at)),
        None if number.needs_unit => None,
        None => Some((
            ReadAmount {
                amount: number.value,
                unit: number.seer.then_some(Unit::Kilogram),
            },
            next - at,
        )),
    }
}

/// Half a dozen is 6 pieces: a dozen is kept only when whole.
fn in_whole_units(amount: Decimal, unit: Unit) -> ReadAmount {
    if unit == Unit::Dozen && amount.fract() != Decimal::ZERO {
        return ReadAmount {
            amount: amount * Decimal::from(12),
            unit: Some(Unit::Piece),
        };
    }
    ReadAmount {
        amount,
        unit: Some(unit),
    }
}

/// A number with what may come around it: "সাড়ে ৩", "সোয়া ২", "পৌনে ২",
/// "one and a half", "1 1/2", "two hundred", "three quarters", "এক পোয়া".
fn read_number(words: &[&str], at: usize) -> Option<ReadNumber> {
    if let Some(change) = words.get(at).and_then(|w| prefix_change(w))
        && let Some(mut number) = read_plain_number(words, at + 1)
    {
        number.value += change;
        number.needs_unit = false;
        return (number.value > Decimal::ZERO).then_some(number);
    }
    read_plain_number(words, at)
}

fn read_plain_number(words: &[&str], at: usize) -> Option<ReadNumber> {
    let word = *words.get(at)?;
    let (mut value, mut needs_unit) = match number(word) {
        Some(n) => (n, false),
        None => number_word(word)?,
    };
    let mut next = at + 1;
    let whole = value.fract() == Decimal::ZERO;
    let after = |i: usize| words.get(i).copied();
    if whole && value < Decimal::from(10) && after(next).is_some_and(is_hundred_word) {
        value *= Decimal::from(100);
        next += 1;
        needs_unit = false;
    } else if whole && let Some(part) = after(next).and_then(fraction_part) {
        value += part;
        next += 1;
        needs_unit = false;
    } else if after(next) == Some("and") {
        let mut k = next + 1;
        if matches!(after(k), Some("a" | "an")) {
            k += 1;
        }
        let part = match after(k) {
            Some("half") => Some(Decimal::new(5, 1)),
            Some("quarter") => Some(Decimal::new(25, 2)),
            _ => None,
        };
        if let Some(part) = part {
            value += part;
            next = k + 1;
            needs_unit = false;
        }
    }
    let mut seer = number_word(word).is_some() && is_seer_word(word);
    if next == at + 1 && matches!(word, "a" | "an" | "one") && after(next) == Some("half") {
        // "a half kg"
        value = Decimal::new(5, 1);
        next += 1;
    } else if let Some(quarter) = after(next).filter(|w| is_quarter_word(w)) {
        // "three quarters", "এক পোয়া", "দেড় পোয়া"
        value *= Decimal::new(25, 2);
        seer = is_seer_word(quarter);
        next += 1;
        needs_unit = false;
    }
    Some(ReadNumber {
        value,
        needs_unit,
        next,
        seer,
    })
}

/// The part after a whole number: "1/2" in "1 1/2", "½" in "1½".
fn fraction_part(word: &str) -> Option<Decimal> {
    let value = if word.contains('/') {
        number(word)?
    } else if matches!(word, "½" | "¼" | "¾") {
        number_word(word)?.0
    } else {
        return None;
    };
    (value < Decimal::ONE).then_some(value)
}

/// "2", "1.5", "1/2" (only fractions that are exact decimals).
fn number(word: &str) -> Option<Decimal> {
    if !word.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if let Some((top, bottom)) = word.split_once('/') {
        let top = Decimal::from_str(top).ok()?;
        let bottom = Decimal::from_str(bottom).ok()?;
        let value = top.checked_div(bottom)?;
        return (value * bottom == top).then(|| value.normalize());
    }
    Decimal::from_str(word).ok()
}

/// A unit word and how many of that unit it means: "হালি" is 4 pieces.
fn unit_word(word: &str) -> Option<(Unit, Decimal)> {
    match word {
        "hali" | "হালি" => Some((Unit::Piece, Decimal::from(4))),
        "টা" | "টি" | "টো" | "ta" | "ti" | "to" | "khana" | "খানা" => {
            Some((Unit::Piece, Decimal::ONE))
        }
        _ => Unit::from_word(word).map(|u| (u, Decimal::ONE)),
    }
}

/// The catalogue item some words name: exactly, as an English plural, by
/// their last words (uncertain), or by a near spelling (uncertain).
fn match_item(words: &[&str], catalogue: &Catalogue) -> ParsedLine {
    let mut parsed = ParsedLine {
        amount: None,
        item: None,
        item_words: words.iter().map(|w| (*w).to_string()).collect(),
        status: ItemStatus::Unmatched,
        reason: Some(FlagReason::NotUnderstood),
    };
    if words.is_empty() {
        return parsed;
    }
    if let Some(item) = exact_item(words, catalogue) {
        parsed.item = Some(item);
        parsed.status = ItemStatus::Matched;
        parsed.reason = None;
        return parsed;
    }
    let longest = catalogue.longest_phrase();
    for start in 1..words.len() {
        if words.len() - start > longest {
            continue;
        }
        // Extra words are an adjective at most ("fresh rice"): never
        // another item or an amount, whose words would be lost.
        if let Some(item) = catalogue.item_by_phrase(&words[start..].join(" "))
            && !names_another_item_or_amount(&words[..start], item, catalogue)
        {
            parsed.item = Some(item);
            parsed.status = ItemStatus::Uncertain;
            parsed.reason = Some(FlagReason::ExtraWords);
            return parsed;
        }
    }
    // Spelling is only guessed for a one-word item: "nice day" is not rice.
    if let [word] = words
        && let Some(item) = catalogue.item_by_spelling(word)
    {
        parsed.item = Some(item);
        parsed.status = ItemStatus::Uncertain;
        parsed.reason = Some(FlagReason::Spelling);
    }
    parsed
}

/// The item some words name exactly, or as an English plural.
fn exact_item(words: &[&str], catalogue: &Catalogue) -> Option<usize> {
    let phrase = words.join(" ");
    catalogue.item_by_phrase(&phrase).or_else(|| {
        phrase
            .strip_suffix("es")
            .and_then(|p| catalogue.item_by_phrase(p))
            .or_else(|| phrase.strip_suffix('s').and_then(|p| catalogue.item_by_phrase(p)))
    })
}

/// Whether any of the words start an amount or name a catalogue item other
/// than `item` ("loaf bread" is bread said twice).
fn names_another_item_or_amount(words: &[&str], item: usize, catalogue: &Catalogue) -> bool {
    let longest = catalogue.longest_phrase();
    (0..words.len()).any(|i| {
        read_amount(words, i).is_some()
            || (i + 1..=words.len().min(i + longest))
                .any(|j| exact_item(&words[i..j], catalogue).is_some_and(|other| other != item))
    })
}

/// Words a picture recogniser adds around the thing itself.
const CONTAINER_WORDS: &[&str] = &[
    "bag", "bags", "packet", "packets", "pack", "box", "bottle", "bottles", "tray", "sack", "jar", "can",
];

/// A picture label: the count is in packets when the label names a bag or
/// packet, otherwise in the item's usual unit.
fn parse_picture(tokens: &[String], count: Option<u32>, catalogue: &Catalogue) -> ParsedLine {
    let words: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let mut parsed = match_item(&words, catalogue);
    let bare: Vec<&str> = words.iter().copied().filter(|w| !CONTAINER_WORDS.contains(w)).collect();
    if parsed.status != ItemStatus::Matched && !bare.is_empty() {
        let retry = match_item(&bare, catalogue);
        if retry.status == ItemStatus::Matched {
            parsed = retry;
        }
    }
    let packed = words
        .iter()
        .any(|w| matches!(*w, "bag" | "bags" | "packet" | "packets" | "pack" | "box" | "sack"));
    parsed.amount = count.map(|n| ReadAmount {
        amount: Decimal::from(n),
        unit: packed.then_some(Unit::Packet),
    });
    parsed
}

struct Event {
    people: u32,
    recipe: Option<usize>,
}

/// "dinner for 6 - polao", "৬ জনের জন্য পোলাও", "tea party for 10".
fn find_event(tokens: &[String], catalogue: &Catalogue) -> Option<Event> {
    let words: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let mut people_at = None;
    for (i, word) in words.iter().enumerate() {
        if *word == "for"
            && let Some(next) = words.get(i + 1)
            && let Some(n) = whole_number(next)
        {
            people_at = Some((i + 1, n));
            break;
        }
        if let Some(n) = whole_number(word)
            && words.get(i + 1).is_some_and(|w| is_people_word(w))
        {
            people_at = Some((i, n));
            break;
        }
    }
    let (at, people) = people_at?;
    let rest: Vec<&str> = words
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, w)| *w)
        .collect();
    // The longest recipe name anywhere in the line, with nothing but
    // occasion words around it.
    let longest = catalogue.longest_phrase().min(rest.len());
    for width in (1..=longest).rev() {
        for start in 0..=rest.len() - width {
            let Some(recipe) = catalogue.recipe_by_phrase(&rest[start..start + width].join(" ")) else {
                continue;
            };
            let others_are_occasion = rest
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < start || *i >= start + width)
                .all(|(_, w)| is_event_word(w) || is_filler(w));
            if others_are_occasion {
                return Some(Event {
                    people,
                    recipe: Some(recipe),
                });
            }
        }
    }
    // A party size with only occasion words: an event we have no dish for.
    rest.iter()
        .all(|w| is_event_word(w) || is_filler(w))
        .then_some(Event { people, recipe: None })
}

fn whole_number(word: &str) -> Option<u32> {
    let value = number(word).or_else(|| number_word(word).map(|(n, _)| n))?;
    if value.fract() != Decimal::ZERO {
        return None;
    }
    u32::try_from(value.mantissa() / 10_i128.pow(value.scale())).ok()
}

fn expand_event(
    line: usize,
    said: &str,
    event: Event,
    catalogue: &Catalogue,
    understood: &mut Understood,
) -> Result<(), DemandError> {
    if event.people == 0 || event.people > MAX_PARTY_SIZE {
        return Err(DemandError::AmountOutOfRange { line });
    }
    let Some(recipe) = event.recipe.and_then(|r| catalogue.recipes().get(r)) else {
        let item = DemandItem {
            name: said.to_string(),
            name_bn: None,
            tag: words(&fold(said)).join(" "),
            category: None,
            quantity: None,
            status: ItemStatus::Unmatched,
            said: Some(said.to_string()),
            recipe: None,
        };
        push_item(understood, item, Some(FlagReason::UnknownRecipe));
        return Ok(());
    };
    understood.recipes.push(RecipeUse {
        recipe: recipe.name.clone(),
        recipe_bn: recipe.name_bn.clone(),
        people: event.people,
        said: said.to_string(),
    });
    for (ingredient, quantity) in recipe_quantities(recipe, event.people) {
        let Some(known) = catalogue.item(ingredient) else {
            continue;
        };
        if quantity.amount > MAX_AMOUNT {
            return Err(DemandError::AmountOutOfRange { line });
        }
        understood.items.push(DemandItem {
            said: Some(said.to_string()),
            recipe: Some(recipe.name.clone()),
            ..DemandItem::known(known, Some(quantity), ItemStatus::Matched)
        });
    }
    Ok(())
}

/// A recipe's shopping list for a party: per-person amounts times the party
/// size (countable units rounded up to whole ones), plus per-party amounts.
#[must_use]
pub fn recipe_quantities(recipe: &Recipe, people: u32) -> Vec<(usize, Quantity)> {
    let scaled = recipe.per_person.iter().map(|i| (i.item, i.quantity.scaled(people)));
    let fixed = recipe.per_party.iter().map(|i| (i.item, i.quantity.normalized()));
    scaled.chain(fixed).collect()
}

/// Reads free text (Bangla, English, romanised Bangla, or mixed) with the
/// built-in catalogue: lines split on new lines, commas, semicolons, "and",
/// "আর"; events such as "polao for 6" become the recipe's list.
pub fn parse_demand_text(text: &str) -> Result<Vec<DemandItem>, DemandError> {
    let request = DemandRequest {
        text: Some(text.to_string()),
        ..DemandRequest::default()
    };
    Ok(understand(
        &request,
        Catalogue::builtin().map_err(|e| DemandError::CatalogueUnavailable(e.to_string()))?,
    )?
    .items)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::demand::{offer_announcement, offer_announcement_in};

    fn catalogue() -> &'static Catalogue {
        Catalogue::builtin().expect("built-in catalogue is valid")
    }

    fn shown(understood: &Understood) -> Vec<String> {
        understood.items.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_picture_label_naming_nothing_is_refused_not_ordered() {
        let request = DemandRequest {
            pictures: vec![PictureLabel {
                label: "   ".into(),
                count: None,
                confidence: None,
            }],
            ..DemandRequest::default()
        };
        assert!(matches!(
            understand(&request, catalogue()),
            Err(DemandError::BlankPictureLabel { picture: 0 })
        ));
    }

    #[test]
    fn a_comma_that_groups_thousands_is_part_of_the_amount() {
        let said = |text: &str| {
            let request = DemandRequest {
                text: Some(text.into()),
                ..DemandRequest::default()
            };
            shown(&understand(&request, catalogue()).expect("understood"))
        };
        assert_eq!(said("1,500 ml milk"), ["1.5 l milk"]);
        assert_eq!(said("২,০০০ গ্রাম চিনি"), said("2000 g sugar"));
        // Any other comma still separates lines.
        assert_eq!(said("2 kg rice,1 kg dal").len(), 2);
        assert_eq!(said("rice 2,5 eggs").len(), 2);
        // Every group is read: one amount (too large), not three lines.
        let million = DemandRequest {
            text: Some("1,000,000 g salt".into()),
            ..DemandRequest::default()
        };
        assert!(matches!(
            understand(&million, catalogue()),
            Err(DemandError::AmountOutOfRange { line: 1 })
        ));
        // A leading 0 groups nothing: "0,500 kg" (a decimal comma) is
        // refused as a line of 0, never read as 500 kg.
        let decimal_comma = DemandRequest {
            text: Some("0,500 kg rice".into()),
            ..DemandRequest::default()
        };
        assert!(matches!(
            understand(&decimal_comma, catalogue()),
            Err(DemandError::AmountOutOfRange { line: 1 })
        ));
    }

    #[test]
    fn an_event_says_which_recipe_and_party_size_it_used() {
        let request = DemandRequest {
            text: Some("Dinner for 6 - polao".into()),
            ..DemandRequest::default()
        };
        let understood = understand(&request, catalogue()).expect("understood");
        assert_eq!(
            shown(&understood)[..2],
            ["1.2 kg rice".to_string(), "600 g meat".to_string()]
        );
        assert!(understood.items.iter().any(|i| i.tag == "spices"));
        assert_eq!(understood.recipes.len(), 1);
        assert_eq!(understood.recipes[0].recipe, "polao");
        assert_eq!(understood.recipes[0].people, 6);
        assert_eq!(understood.language, Language::En);
        let json = serde_json::to_value(&understood).expect("serialises");
        assert_eq!(json["recipes"][0]["people"], 6);
        assert_eq!(json["items"][0]["recipe"], "polao");
    }

    #[test]
    fn unsure_speech_is_flagged_not_trusted() {
        let request: DemandRequest = serde_json::from_value(serde_json::json!({
            "voice": {
                "transcript": "২ কেজি চাল আর এক হালি ডিম",
                "language": "bn",
                "words": [{"word": "ডিম", "confidence": 0.3}, {"word": "চাল", "confidence": 0.95}]
            }
        }))
        .expect("request");
        let understood = understand(&request, catalogue()).expect("understood");
        assert_eq!(shown(&understood), ["2 kg rice", "4 eggs"]);
        assert_eq!(understood.items[0].status, ItemStatus::Matched);
        assert_eq!(understood.items[1].status, ItemStatus::Uncertain);
        assert_eq!(understood.flagged.len(), 1);
        assert_eq!(understood.flagged[0].item, 1);
        assert_eq!(understood.flagged[0].reason, FlagReason::LowConfidence);
        assert_eq!(understood.language, Language::Bn);

        let mumbled = DemandRequest {
            voice: Some(VoiceInput {
                transcript: "two kg rice".into(),
                confidence: Some(0.4),
                ..VoiceInput::default()
            }),
            ..DemandRequest::default()
        };
        let understood = understand(&mumbled, catalogue()).expect("understood");
        assert_eq!(understood.items[0].status, ItemStatus::Uncertain);
        assert_eq!(understood.flagged[0].reason, FlagReason::LowConfidence);
    }

    #[test]
    fn picture_labels_map_to_catalogue_items() {
        let request: DemandRequest = serde_json::from_value(serde_json::json!({
            "pictures": [
                {"label": "rice bag", "count": 2},
                {"label": "eggs", "count": 12},
                {"label": "oil bottle"},
                {"label": "Toothpaste", "count": 1},
                {"label": "sugar", "count": 1, "confidence": 0.2}
            ]
        }))
        .expect("request");
        let understood = understand(&request, catalogue()).expect("understood");
        assert_eq!(
            shown(&understood),
            ["2 packets rice", "12 eggs", "oil", "Toothpaste", "1 sugar"]
        );
        assert_eq!(understood.items[3].status, ItemStatus::Unmatched);
        assert_eq!(understood.items[4].status, ItemStatus::Uncertain);
        let reasons: Vec<FlagReason> = understood.flagged.iter().map(|f| f.reason).collect();
        assert_eq!(reasons, [FlagReason::NotUnderstood, FlagReason::LowConfidence]);
    }

    #[test]
    fn unmatched_lines_keep_the_customers_words_and_json_stays_compatible() {
        let items = crate::domain::demand::parse_demand_text("2 kg rice, 1 kg ঢেঁড়স").expect("parses");
        assert_eq!(items[1].status, ItemStatus::Unmatched);
        assert_eq!(items[1].name, "1 kg ঢেঁড়স");
        assert_eq!(items[1].said.as_deref(), Some("1 kg ঢেঁড়স"));
        assert_eq!((&items[1].category, &items[1].name_bn), (&None, &None));
        let json = serde_json::to_value(&items[0]).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({"name": "rice", "name_bn": "চাল", "tag": "rice", "category": "grocery",
                               "quantity": {"amount": "2", "unit": "kg"}})
        );
        let old: crate::domain::demand::DemandItem =
            serde_json::from_value(serde_json::json!({"name": "rice", "tag": "rice"})).expect("old JSON reads");
        assert_eq!(old.status, ItemStatus::Matched);
    }

    #[test]
    fn store_sentences_in_both_languages() {
        let items = crate::domain::demand::parse_demand_text("1.2 kg rice, 600 g meat").expect("parses");
        assert_eq!(
            offer_announcement(&items),
            "New order: 1.2 kg rice, 600 g meat - accept now!"
        );
        let items = crate::domain::demand::parse_demand_text(
            "1.5 kg chal, 600 g meat, half kg onion, 2.5 kg alu, 3.5 kg sugar, 6 eggs, 2 packets biscuits, spices",
        )
        .expect("parses");
        assert_eq!(
            offer_announcement_in(&items, Language::Bn),
            "নতুন অর্ডার: দেড় কেজি চাল, ৬০০ গ্রাম মাংস, আধা কেজি পেঁয়াজ, আড়াই কেজি আলু, সাড়ে ৩ কেজি চিনি, ৬টি ডিম, ২ প্যাকেট বিস্কুট, মসলা - এখনই গ্রহণ করুন!"
        );
        let items = crate::domain::demand::parse_demand_text("১.২ কেজি চাল").expect("parses");
        assert_eq!(
            offer_announcement_in(&items, Language::Bn),
            "নতুন অর্ডার: ১.২ কেজি চাল - এখনই গ্রহণ করুন!"
        );
        assert_eq!(
            offer_announcement_in(&items, Language::En),
            "New order: 1.2 kg rice - accept now!"
        );
    }

    #[test]
    fn limits_still_hold() {
        let request = DemandRequest::default();
        assert_eq!(understand(&request, catalogue()), Err(DemandError::Empty));
        let party = DemandRequest {
            text: Some("polao for 100000".into()),
            ..DemandRequest::default()
        };
        assert_eq!(
            understand(&party, catalogue()),
            Err(DemandError::AmountOutOfRange { line: 1 })
        );
    }

    fn unit() -> impl Strategy<Value = Unit> {
        prop_oneof![
            Just(Unit::Gram),
            Just(Unit::Kilogram),
            Just(Unit::Millilitre),
            Just(Unit::Litre),
            Just(Unit::Piece),
            Just(Unit::Dozen),
            Just(Unit::Packet),
        ]
    }

    /// Amounts with up to three decimals, as people and recipes write them.
    fn amount() -> impl Strategy<Value = Decimal> {
        (1_i64..=10_000_000, 0_u32..=3).prop_map(|(n, scale)| Decimal::new(n, scale))
    }

    proptest! {
        #[test]
        fn normalising_never_changes_the_amount(amount in amount(), unit in unit()) {
            let before = Quantity { amount, unit };
            let after = before.normalized();
            prop_assert_eq!(after.in_base_units(), before.in_base_units());
            prop_assert_eq!(after.normalized(), after);
        }

        #[test]
        fn scaling_multiplies_exactly_and_rounds_counts_up_by_less_than_one(
            amount in amount(), unit in unit(), people in 1_u32..=MAX_PARTY_SIZE,
        ) {
            let per_person = Quantity { amount, unit };
            let (base, base_unit) = per_person.in_base_units();
            let (scaled, scaled_unit) = per_person.scaled(people).in_base_units();
            prop_assert_eq!(scaled_unit, base_unit);
            let exact = base * Decimal::from(people);
            if unit.is_countable() {
                let one = Quantity { amount: Decimal::ONE, unit }.in_base_units().0;
                prop_assert!(scaled >= exact && scaled - exact < one);
            } else {
                prop_assert_eq!(scaled, exact);
            }
        }

        #[test]
        fn recipes_scale_with_the_party(people in 1_u32..=MAX_PARTY_SIZE) {
            let request = DemandRequest { text: Some(format!("polao for {people}")), ..DemandRequest::default() };
            let understood = understand(&request, catalogue()).expect("understood");
            let rice = understood.items.iter().find(|i| i.tag == "rice").and_then(|i| i.quantity).expect("rice");
            prop_assert_eq!(rice.in_base_units(), (Decimal::from(200 * people), Unit::Gram));
            prop_assert_eq!(understood.recipes[0].people, people);
        }

        #[test]
        fn typed_amounts_are_kept_exactly(amount in amount(), unit in prop_oneof![Just("kg"), Just("g"), Just("l"), Just("ml")]) {
            prop_assume!(amount <= crate::domain::demand::MAX_AMOUNT);
            let text = format!("{amount} {unit} rice");
            let items = crate::domain::demand::parse_demand_text(&text).expect("parses");
            let typed = Quantity { amount, unit: Unit::from_word(unit).expect("unit") };
            prop_assert_eq!(items[0].quantity.map(Quantity::in_base_units), Some(typed.in_base_units()));
        }

        #[test]
        fn nothing_typed_is_dropped(words in proptest::collection::vec("[a-zA-Zঅ-হ ]{1,12}", 1..8)) {
            let text = words.join(", ");
            if let Ok(items) = crate::domain::demand::parse_demand_text(&text) {
                // Every segment comes back, as one item or, where amounts or
                // units separate items within it, as several: never fewer.
                prop_assert!(items.len() >= split_segments(&text).len(), "{text:?} -> {items:?}");
            }
        }
    }

    /// How generated items may be named: English and Bangla catalogue
    /// names, and romanised Bangla as customers type it.
    const ROMANISED: &[(&str, &str)] = &[
        ("rice", "chal"),
        ("lentils", "dal"),
        ("oil", "tel"),
        ("sugar", "chini"),
        ("salt", "lobon"),
        ("eggs", "dim"),
        ("onion", "piaj"),
        ("potato", "alu"),
        ("garlic", "roshun"),
        ("ginger", "ada"),
        ("meat", "mangsho"),
        ("beef", "gorur mangsho"),
        ("chicken", "murgi"),
        ("fish", "mach"),
        ("milk", "dudh"),
        ("flour", "atta"),
        ("turmeric", "holud"),
        ("chilli", "morich"),
        ("biscuits", "biskut"),
        ("banana", "kola"),
        ("yogurt", "doi"),
    ];

    /// Every (English name, spelling) whose spelling alone reads as that item.
    fn spellings() -> Vec<(String, String)> {
        let mut all = Vec::new();
        for item in catalogue().items() {
            all.push((item.name.clone(), item.name.clone()));
            all.push((item.name.clone(), item.name_bn.clone()));
        }
        all.extend(ROMANISED.iter().map(|(n, s)| ((*n).to_string(), (*s).to_string())));
        all.retain(|(name, spelling)| {
            crate::domain::demand::parse_demand_text(spelling)
                .is_ok_and(|items| items.len() == 1 && items[0].name == *name && items[0].status == ItemStatus::Matched)
        });
        all
    }

    /// A number as typed, its exact value, and whether it is a whole number
    /// (fractions go with weights and volumes only).
    fn typed_number() -> impl Strategy<Value = (String, Decimal, bool)> {
        let digits = (1_i64..=20, 0_u32..=2, any::<bool>()).prop_map(|(n, scale, bangla)| {
            let value = Decimal::new(n * 5_i64.pow(scale), scale).normalize();
            let text = value.to_string();
            let text = if bangla {
                crate::domain::demand::item::bangla_digits(&text)
            } else {
                text
            };
            (text, value, value.fract() == Decimal::ZERO)
        });
        let words = prop_oneof![
            Just(("one", 1, 0)),
            Just(("two", 2, 0)),
            Just(("five", 5, 0)),
            Just(("ten", 10, 0)),
            Just(("এক", 1, 0)),
            Just(("দুই", 2, 0)),
            Just(("তিন", 3, 0)),
            Just(("পাঁচ", 5, 0)),
            Just(("ek", 1, 0)),
            Just(("dui", 2, 0)),
            Just(("tin", 3, 0)),
            Just(("half", 5, 1)),
            Just(("a quarter", 25, 2)),
            Just(("three quarters", 75, 2)),
            Just(("one and a half", 15, 1)),
            Just(("two and a half", 25, 1)),
            Just(("আধা", 5, 1)),
            Just(("দেড়", 15, 1)),
            Just(("আড়াই", 25, 1)),
            Just(("সোয়া ২", 225, 2)),
            Just(("পৌনে ২", 175, 2)),
            Just(("পৌনে ১", 75, 2)),
            Just(("সাড়ে ৩", 35, 1)),
            Just(("sare 4", 45, 1)),
            Just(("der", 15, 1)),
            Just(("adha", 5, 1)),
        ]
        .prop_map(|(text, n, scale)| {
            let value = Decimal::new(n, scale);
            (text.to_string(), value, value.fract() == Decimal::ZERO)
        });
        prop_oneof![digits, words]
    }

    /// A unit as typed, what one of it is, and whether it is a weight or
    /// volume; None for a bare number (the item's own unit).
    fn typed_unit() -> impl Strategy<Value = Option<(&'static str, Unit, Decimal, bool)>> {
        let one = Decimal::ONE;
        prop_oneof![
            Just(None),
            Just(Some(("kg", Unit::Kilogram, one, true))),
            Just(Some(("KG", Unit::Kilogram, one, true))),
            Just(Some(("kilo", Unit::Kilogram, one, true))),
            Just(Some(("কেজি", Unit::Kilogram, one, true))),
            Just(Some(("keji", Unit::Kilogram, one, true))),
            Just(Some(("g", Unit::Gram, one, true))),
            Just(Some(("gm", Unit::Gram, one, true))),
            Just(Some(("গ্রাম", Unit::Gram, one, true))),
            Just(Some(("litre", Unit::Litre, one, true))),
            Just(Some(("ltr", Unit::Litre, one, true))),
            Just(Some(("লিটার", Unit::Litre, one, true))),
            Just(Some(("ml", Unit::Millilitre, one, true))),
            Just(Some(("packet", Unit::Packet, one, false))),
            Just(Some(("প্যাকেট", Unit::Packet, one, false))),
            Just(Some(("dozen", Unit::Dozen, one, true))),
            Just(Some(("ডজন", Unit::Dozen, one, true))),
            Just(Some(("hali", Unit::Piece, Decimal::from(4), false))),
            Just(Some(("হালি", Unit::Piece, Decimal::from(4), false))),
            Just(Some(("টা", Unit::Piece, one, false))),
            Just(Some(("টি", Unit::Piece, one, false))),
            Just(Some(("pcs", Unit::Piece, one, false))),
            Just(Some(("ta", Unit::Piece, one, false))),
        ]
    }

    /// One generated line part: the text, the item's English name, its
    /// exact amount in base units, and whether its amount has a unit.
    #[derive(Debug, Clone)]
    struct Generated {
        text: String,
        name: String,
        base: (Decimal, Unit),
        with_unit: bool,
    }

    fn demand() -> impl Strategy<Value = (Vec<Generated>, String)> {
        let spellings = spellings();
        let part = (
            proptest::sample::select(spellings),
            typed_number(),
            typed_unit(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_filter_map(
                "fractions only of weights and volumes; romanised tin needs a unit",
                |((name, spelling), (number, value, whole), unit, after, glued)| {
                    if !whole && !unit.is_some_and(|(_, _, _, measure)| measure) {
                        return None;
                    }
                    if unit.is_none() && number == "tin" {
                        return None;
                    }
                    let known = catalogue().item_named(&name)?;
                    let (unit_text, unit, times) = match unit {
                        Some((text, unit, times, _)) => (text, unit, times),
                        None => ("", known.unit, Decimal::ONE),
                    };
                    let amount_text = match (
                        unit_text,
                        glued && number.chars().all(|c| c.is_ascii_digit() || c == '.'),
                    ) {
                        ("", _) => number.clone(),
                        (u, true) => format!("{number}{u}"),
                        (u, false) => format!("{number} {u}"),
                    };
                    let text = if after {
                        format!("{spelling} {amount_text}")
                    } else {
                        format!("{amount_text} {spelling}")
                    };
                    let base = Quantity {
                        amount: value * times,
                        unit,
                    }
                    .in_base_units();
                    Some(Generated {
                        text,
                        name,
                        base,
                        with_unit: !unit_text.is_empty(),
                    })
                },
            );
        let separator = prop_oneof![
            Just(", "),
            Just(","),
            Just(" and "),
            Just(" আর "),
            Just(" ও "),
            Just("\n"),
            Just(" "),
            Just("  "),
            Just(" + "),
            Just("; "),
            Just("। "),
            Just(" ar "),
        ];
        proptest::collection::vec((part, separator), 1..6).prop_filter_map(
            "each item once, no amount read across two",
            |parts| {
                let mut names: Vec<&str> = parts.iter().map(|(p, _)| p.name.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                if names.len() != parts.len() {
                    return None;
                }
                // "meat 1 and half kg beef" is as much 1 meat and half a kilo of
                // beef as a kilo and a half of beef, and "rice one half kg meat"
                // holds "one half kg": the parser reads the amounts joined, as a
                // person might.
                let amounts_joined = parts.windows(2).any(|pair| {
                    let (before, after, separator) = (&pair[0].0.text, &pair[1].0.text, pair[1].1);
                    let fraction_next = after.starts_with("half ") || after.starts_with("a quarter ");
                    let one_half =
                        matches!(separator, " " | "  ") && before.ends_with(" one") && after.starts_with("half ");
                    (fraction_next && separator == " and ") || one_half
                });
                if amounts_joined {
                    return None;
                }
                let mut text = String::new();
                for (i, (part, separator)) in parts.iter().enumerate() {
                    if i > 0 {
                        text.push_str(separator);
                    }
                    text.push_str(&part.text);
                }
                Some((parts.into_iter().map(|(p, _)| p).collect(), text))
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Every generated item comes back once with its own amount, or its
        /// words come back unmatched; no item carries another's amount, and
        /// nothing is invented. When every amount has a unit the whole
        /// demand must be read, in order.
        #[test]
        fn amounts_are_never_moved_or_dropped((parts, text) in demand()) {
            let items = crate::domain::demand::parse_demand_text(&text).expect("parses");
            let mut seen: Vec<&str> = Vec::new();
            for item in &items {
                if item.status == ItemStatus::Unmatched {
                    prop_assert!(item.quantity.is_none(), "an unmatched line has no amount: {item:?}");
                    continue;
                }
                let part = parts.iter().find(|p| p.name == item.name);
                prop_assert!(part.is_some(), "{:?} was never asked for in {text:?}", item.name);
                let part = part.expect("checked");
                prop_assert!(!seen.contains(&part.name.as_str()), "{} came back twice from {text:?}", part.name);
                seen.push(&part.name);
                prop_assert_eq!(item.quantity.map(Quantity::in_base_units), Some(part.base), "{} in {:?}", part.name, text);
            }
            for part in &parts {
                if seen.contains(&part.name.as_str()) {
                    continue;
                }
                let kept = items.iter().any(|i| {
                    i.status == ItemStatus::Unmatched && i.said.as_deref().is_some_and(|s| s.contains(part.text.as_str()) || part.text.contains(s))
                });
                prop_assert!(kept, "{:?} was dropped from {text:?}: {items:?}", part.text);
            }
            if parts.iter().all(|p| p.with_unit) {
                let shown: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
                let asked: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
                prop_assert_eq!(shown, asked, "{:?}", text);
            }
        }
    }
}
