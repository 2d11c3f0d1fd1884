//! Understanding a demand however the customer gave it: typed text in
//! Bangla, English or both, a speech transcript, or labels from on-device
//! picture recognition. Everything goes through the same line parser; what
//! it cannot read comes back as an `unmatched` item carrying the customer's
//! words, and guesses (spelling, extra words, low speech confidence) come
//! back `uncertain`, so the customer can edit before ordering.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::catalogue::{Catalogue, Recipe};
use super::item::{DemandError, DemandItem, ItemStatus, MAX_DEMAND_LINES, MAX_DEMAND_TEXT_CHARS, MAX_ITEM_NAME_CHARS};
use super::language::Language;
use super::quantity::{MAX_AMOUNT, Quantity, Unit};
use super::words::{
    fold, has_bangla, is_and_a_half, is_conjunction, is_event_word, is_filler, is_people_word, number_word,
    split_classifier, words,
};

/// Below this, a recognised word or picture label is flagged, not trusted.
pub const LOW_CONFIDENCE: f32 = 0.6;
/// Largest party a recipe is scaled for.
pub const MAX_PARTY_SIZE: u32 = 500;

/// What the app sends: any of typed text, a transcript, picture labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceInput {
    pub transcript: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// The recogniser's confidence in the whole transcript, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Per-word confidences, when the recogniser gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<WordConfidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordConfidence {
    pub word: String,
    pub confidence: f32,
}

/// One label from on-device image recognition, e.g. "rice bag".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PictureLabel {
    pub label: String,
    /// How many the picture showed, when the recogniser counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

/// The demand as understood, for the customer to check and edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeUse {
    pub recipe: String,
    pub recipe_bn: String,
    pub people: u32,
    /// The customer's words for the event.
    pub said: String,
}

/// An item that needs the customer's eye.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// Index into `Understood::items`.
    pub item: usize,
    pub said: String,
    pub reason: FlagReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
            .flat_map(|w| words(&fold(&w.word)))
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
    for label in &request.pictures {
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
    for part in text.split(['\n', '\r', ',', ';', '।', '&', '+', '|']) {
        let mut current: Vec<&str> = Vec::new();
        for word in part.split_whitespace() {
            if is_conjunction(&fold(word)) {
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

fn push_segment(segments: &mut Vec<String>, words: &[&str]) {
    let joined = words.join(" ");
    let trimmed = joined.trim_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '.' | '*' | '•' | ':'));
    if trimmed.chars().any(|c| c.is_alphanumeric()) {
        segments.push(trimmed.to_string());
    }
}

/// Folded words of one segment, with glued classifiers ("দুইটা") split.
fn segment_words(said: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in words(&fold(said)) {
        match split_classifier(&word) {
            Some((stem, suffix)) => {
                out.push(stem.to_string());
                out.push(suffix.to_string());
            }
            None => out.push(word),
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
    let tokens = segment_words(said);
    if segment.picture.is_none()
        && let Some(event) = find_event(&tokens, catalogue)
    {
        return expand_event(line, said, event, catalogue, understood);
    }
    let parsed = match segment.picture {
        Some(count) => parse_picture(&tokens, count, catalogue),
        None => parse_item_line(&tokens, catalogue),
    };
    let mut parsed = parsed;
    if segment.low_confidence {
        parsed.reason = Some(FlagReason::LowConfidence);
        if parsed.status == ItemStatus::Matched {
            parsed.status = ItemStatus::Uncertain;
        }
    }
    let item = parsed.to_item(line, said, catalogue)?;
    push_item(understood, item, parsed.reason);
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
                name: k.name.clone(),
                tag: k.tag.clone(),
                category: Some(k.category.clone()),
                quantity,
                status: self.status,
                said: (self.status != ItemStatus::Matched).then(|| said.to_string()),
                recipe: None,
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

/// "2 kg rice", "rice 2kg", "এক হালি ডিম", "আমার ২ কেজি চাল লাগবে".
fn parse_item_line(tokens: &[String], catalogue: &Catalogue) -> ParsedLine {
    let words: Vec<&str> = tokens.iter().map(String::as_str).filter(|w| !is_filler(w)).collect();
    let (amount, item_words) = split_amount(&words);
    let mut parsed = match_item(&item_words, catalogue);
    parsed.amount = amount;
    parsed
}

fn split_amount<'a>(words: &[&'a str]) -> (Option<ReadAmount>, Vec<&'a str>) {
    if let Some((amount, used)) = read_amount(words, 0) {
        return (Some(amount), words[used..].to_vec());
    }
    for width in (1..=3).rev() {
        let Some(start) = words.len().checked_sub(width) else {
            continue;
        };
        if start == 0 {
            continue;
        }
        if let Some((amount, used)) = read_amount(words, start)
            && used == width
        {
            return (Some(amount), words[..start].to_vec());
        }
    }
    (None, words.to_vec())
}

/// Reads an amount starting at `at`; returns it and how many words it used.
fn read_amount(words: &[&str], at: usize) -> Option<(ReadAmount, usize)> {
    let mut next = at;
    let and_a_half = words.get(next).is_some_and(|w| is_and_a_half(w));
    if and_a_half {
        next += 1;
    }
    let word = *words.get(next)?;
    let (mut amount, needs_unit) = match number(word) {
        Some(n) => (n, false),
        None => match number_word(word) {
            Some(found) => found,
            None if !and_a_half => {
                // "dozen eggs", "হালি ডিম": the unit alone means one of it.
                let (unit, times) = unit_word(word)?;
                if unit == Unit::Piece && times == Decimal::ONE {
                    return None;
                }
                let amount = ReadAmount {
                    amount: times,
                    unit: Some(unit),
                };
                return Some((amount, next + 1 - at));
            }
            None => return None,
        },
    };
    next += 1;
    if and_a_half {
        amount += Decimal::new(5, 1);
    }
    match words.get(next).and_then(|w| unit_word(w)) {
        Some((unit, times)) => Some((
            ReadAmount {
                amount: amount * times,
                unit: Some(unit),
            },
            next + 1 - at,
        )),
        None if needs_unit => None,
        None => Some((ReadAmount { amount, unit: None }, next - at)),
    }
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
    let phrase = words.join(" ");
    let singular = phrase
        .strip_suffix("es")
        .and_then(|p| catalogue.item_by_phrase(p))
        .or_else(|| phrase.strip_suffix('s').and_then(|p| catalogue.item_by_phrase(p)));
    if let Some(item) = catalogue.item_by_phrase(&phrase).or(singular) {
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
        if let Some(item) = catalogue.item_by_phrase(&words[start..].join(" ")) {
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
            name: known.name.clone(),
            tag: known.tag.clone(),
            category: Some(known.category.clone()),
            quantity: Some(quantity),
            status: ItemStatus::Matched,
            said: Some(said.to_string()),
            recipe: Some(recipe.name.clone()),
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
        assert_eq!(items[1].category, None);
        let json = serde_json::to_value(&items[0]).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({"name": "rice", "tag": "rice", "category": "grocery",
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
                prop_assert_eq!(items.len(), split_segments(&text).len());
            }
        }
    }
}
