//! Folding customer text into comparable words, in both scripts.
//!
//! The catalogue and the parser fold text the same way, so "২কেজি",
//! "2 KG" and "2kg" all become the words `2` `kg`, and the two Unicode
//! spellings of "পেঁয়াজ" (precomposed য় or য + nukta) compare equal.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use rust_decimal::Decimal;

/// Lower-cases, turns Bangla digits into ASCII ones, spells out precomposed
/// Bangla letters and drops zero-width joiners.
#[must_use]
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        fold_char(c, |f| folded.push(f));
    }
    folded
}

/// A Bangla digit as its Latin one; any other character as it is.
#[must_use]
pub fn latin_digit(c: char) -> char {
    match c {
        '০'..='৯' => char::from_digit(u32::from(c) - u32::from('০'), 10).unwrap_or(c),
        c => c,
    }
}

/// Folds one character, giving its folded characters (none, one or more).
fn fold_char(c: char, mut push: impl FnMut(char)) {
    match c {
        '০'..='৯' => push(latin_digit(c)),
        // ড় ঢ় য় are the same letters as ড ঢ য plus a nukta; keyboards
        // produce either form.
        '\u{09DC}' => {
            push('\u{09A1}');
            push('\u{09BC}');
        }
        '\u{09DD}' => {
            push('\u{09A2}');
            push('\u{09BC}');
        }
        '\u{09DF}' => {
            push('\u{09AF}');
            push('\u{09BC}');
        }
        '\u{200C}' | '\u{200D}' | '\u{FEFF}' => {}
        _ => c.to_lowercase().for_each(push),
    }
}

/// Whether the text has any Bangla letter in it.
#[must_use]
pub fn has_bangla(text: &str) -> bool {
    text.chars().any(is_bangla)
}

fn is_bangla(c: char) -> bool {
    ('\u{0980}'..='\u{09FF}').contains(&c)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_bangla(c)
}

/// Splits folded text into words: punctuation separates, and so does a
/// change between digits and letters ("2kg" is `2` `kg`). A '.' or '/'
/// between digits stays, for "1.5" and "1/2".
#[must_use]
pub fn words(folded: &str) -> Vec<String> {
    let chars: Vec<char> = folded.chars().collect();
    word_ranges(&chars)
        .into_iter()
        .map(|r| chars[r].iter().collect())
        .collect()
}

/// The words of unfolded text, folded as [`words`] gives them, each with
/// the byte range of the customer's own characters it came from.
#[must_use]
pub fn word_spans(text: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut chars = Vec::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        fold_char(c, |f| {
            chars.push(f);
            origin.push(at..at + c.len_utf8());
        });
    }
    word_ranges(&chars)
        .into_iter()
        .filter_map(|r| {
            let start = origin.get(r.start)?.start;
            let end = origin.get(r.end.checked_sub(1)?)?.end;
            Some((chars[r].iter().collect(), start..end))
        })
        .collect()
}

/// Where the words are in folded characters.
fn word_ranges(chars: &[char]) -> Vec<std::ops::Range<usize>> {
    let in_number = |c: char| c.is_ascii_digit();
    let mut ranges = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &c) in chars.iter().enumerate() {
        let joins_digits = (c == '.' || c == '/')
            && i > 0
            && in_number(chars[i - 1])
            && chars.get(i + 1).is_some_and(|&n| in_number(n));
        if !(is_word_char(c) || joins_digits) {
            if let Some(s) = start.take() {
                ranges.push(s..i);
            }
            continue;
        }
        if let Some(s) = start
            && i > s
            && !joins_digits
            && chars[i - 1] != '.'
            && chars[i - 1] != '/'
            && in_number(chars[i - 1]) != in_number(c)
        {
            ranges.push(s..i);
            start = Some(i);
        }
        if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        ranges.push(s..chars.len());
    }
    ranges
}

/// Folds and splits, then joins with single spaces: the key the catalogue
/// indexes phrases by.
#[must_use]
pub fn phrase_key(text: &str) -> String {
    words(&fold(text)).join(" ")
}

/// Number words: (word, value in hundredths, needs a unit after it).
/// Romanised "tin", "char", "sat" are also English words, so they count as
/// numbers only before a unit.
const NUMBER_WORDS: &[(&str, i64, bool)] = &[
    ("a", 100, false),
    ("an", 100, false),
    ("one", 100, false),
    ("এক", 100, false),
    ("ek", 100, false),
    ("two", 200, false),
    ("দুই", 200, false),
    ("দু", 200, false),
    ("dui", 200, false),
    ("du", 200, false),
    ("three", 300, false),
    ("তিন", 300, false),
    ("tin", 300, true),
    ("four", 400, false),
    ("চার", 400, false),
    ("char", 400, true),
    ("five", 500, false),
    ("পাঁচ", 500, false),
    ("pach", 500, false),
    ("panch", 500, false),
    ("six", 600, false),
    ("ছয়", 600, false),
    ("ছয়", 600, false),
    ("choy", 600, false),
    ("chhoy", 600, false),
    ("seven", 700, false),
    ("সাত", 700, false),
    ("sat", 700, true),
    ("eight", 800, false),
    ("আট", 800, false),
    ("at", 800, true),
    ("aat", 800, true),
    ("nine", 900, false),
    ("নয়", 900, false),
    ("noy", 900, true),
    ("ten", 1000, false),
    ("দশ", 1000, false),
    ("dosh", 1000, false),
    ("eleven", 1100, false),
    ("এগারো", 1100, false),
    ("twelve", 1200, false),
    ("বারো", 1200, false),
    ("fifteen", 1500, false),
    ("পনেরো", 1500, false),
    ("twenty", 2000, false),
    ("বিশ", 2000, false),
    ("কুড়ি", 2000, false),
    ("thirty", 3000, false),
    ("ত্রিশ", 3000, false),
    ("fifty", 5000, false),
    ("পঞ্চাশ", 5000, false),
    ("thirteen", 1300, false),
    ("fourteen", 1400, false),
    ("sixteen", 1600, false),
    ("eighteen", 1800, false),
    ("forty", 4000, false),
    ("sixty", 6000, false),
    ("egaro", 1100, false),
    ("baro", 1200, false),
    ("তেরো", 1300, false),
    ("চৌদ্দ", 1400, false),
    ("ষোল", 1600, false),
    ("ষোলো", 1600, false),
    ("আঠারো", 1800, false),
    ("পঁচিশ", 2500, false),
    ("চল্লিশ", 4000, false),
    ("ষাট", 6000, false),
    ("hundred", 10000, false),
    ("একশ", 10000, false),
    ("একশো", 10000, false),
    ("দুইশ", 20000, false),
    ("দুশো", 20000, false),
    ("দুইশো", 20000, false),
    ("তিনশ", 30000, false),
    ("তিনশো", 30000, false),
    ("চারশ", 40000, false),
    ("পাঁচশ", 50000, false),
    ("পাঁচশো", 50000, false),
    ("দেড়শ", 15000, false),
    ("দেড়শো", 15000, false),
    ("আড়াইশ", 25000, false),
    ("আড়াইশো", 25000, false),
    ("duisho", 20000, false),
    ("tinsho", 30000, false),
    ("pachsho", 50000, false),
    ("dersho", 15000, false),
    ("araisho", 25000, false),
    ("half", 50, false),
    ("আধা", 50, false),
    ("আধ", 50, false),
    ("adha", 50, false),
    ("aadha", 50, false),
    ("½", 50, false),
    ("quarter", 25, false),
    ("¼", 25, false),
    ("¾", 75, false),
    ("পোয়া", 25, false),
    ("poa", 25, true),
    ("powa", 25, true),
    ("poya", 25, true),
    ("সোয়া", 125, false),
    ("shoa", 125, true),
    ("sowa", 125, true),
    ("showa", 125, true),
    ("পৌনে", 75, false),
    ("poune", 75, true),
    ("powne", 75, true),
    ("দেড়", 150, false),
    ("der", 150, false),
    ("dedh", 150, false),
    ("আড়াই", 250, false),
    ("arai", 250, false),
    ("aarai", 250, false),
    ("arhai", 250, false),
    ("adai", 250, false),
];

/// Words before a number that add to it or take from it: "সাড়ে ৩" is 3.5,
/// "সোয়া ২" is 2.25, "পৌনে ২" is 1.75 (in hundredths).
const PREFIX_WORDS: &[(&str, i64)] = &[
    ("সাড়ে", 50),
    ("sare", 50),
    ("share", 50),
    ("saare", 50),
    ("sarhe", 50),
    ("sade", 50),
    ("সোয়া", 25),
    ("shoa", 25),
    ("sowa", 25),
    ("showa", 25),
    ("পৌনে", -25),
    ("poune", -25),
    ("powne", -25),
];

/// Words after a number that make it quarters: "three quarters" is 0.75,
/// "এক পোয়া" is 0.25 (a quarter seer, said of a kilo), "দুই পোয়া" 0.5.
const QUARTER_WORDS: &[&str] = &["quarter", "quarters", "পোয়া", "poa", "powa", "poya"];

/// Quarter words that mean a quarter kilo when no unit follows.
const SEER_WORDS: &[&str] = &["পোয়া", "poa", "powa", "poya"];

/// Words after a number that make it hundreds: "দুই শ গ্রাম", "two hundred".
const HUNDRED_WORDS: &[&str] = &["hundred", "শ", "শো", "শত", "sho"];

const FILLER_WORDS: &[&str] = &[
    "please",
    "pls",
    "plz",
    "kindly",
    "need",
    "needed",
    "want",
    "i",
    "we",
    "give",
    "me",
    "us",
    "send",
    "get",
    "of",
    "the",
    "some",
    "about",
    "approx",
    "around",
    "only",
    "bhai",
    "vai",
    "ভাই",
    "আমার",
    "আমাকে",
    "আমাদের",
    "লাগবে",
    "দরকার",
    "চাই",
    "দিন",
    "দাও",
    "দেন",
    "দিবেন",
    "পাঠান",
    "lagbe",
    "dorkar",
    "chai",
    "din",
    "dao",
    "den",
    "diben",
    "ami",
    "amar",
    "amake",
    "er",
    "এর",
];

const EVENT_WORDS: &[&str] = &[
    "dinner",
    "lunch",
    "breakfast",
    "birthday",
    "wedding",
    "party",
    "dawat",
    "daawat",
    "dawaat",
    "invitation",
    "guest",
    "guests",
    "people",
    "persons",
    "person",
    "pax",
    "family",
    "friends",
    "make",
    "cook",
    "cooking",
    "for",
    "with",
    "দাওয়াত",
    "জন্মদিন",
    "জন্মদিনের",
    "মেহমান",
    "অতিথি",
    "রাতের",
    "দুপুরের",
    "খাবার",
    "পার্টি",
    "রান্না",
    "জনের",
    "জন",
    "জন্য",
    "jon",
    "joner",
    "jonno",
    "rater",
    "khabar",
];

const PEOPLE_WORDS: &[&str] = &[
    "people",
    "persons",
    "person",
    "guests",
    "pax",
    "জন",
    "জনের",
    "jon",
    "joner",
    "মেহমান",
    "অতিথি",
];

const CONJUNCTIONS: &[&str] = &["and", "আর", "ও", "এবং", "ar", "aar", "ebong", "plus", "&"];

struct WordSets {
    numbers: HashMap<String, (Decimal, bool)>,
    prefixes: HashMap<String, Decimal>,
    quarters: HashSet<String>,
    seers: HashSet<String>,
    hundreds: HashSet<String>,
    fillers: HashSet<String>,
    events: HashSet<String>,
    people: HashSet<String>,
    conjunctions: HashSet<String>,
}

/// Folded once, so the tables above can be written the way people type.
static WORD_SETS: LazyLock<WordSets> = LazyLock::new(|| {
    let set = |list: &[&str]| list.iter().map(|w| fold(w)).collect::<HashSet<String>>();
    WordSets {
        numbers: NUMBER_WORDS
            .iter()
            .map(|&(w, hundredths, needs_unit)| (fold(w), (Decimal::new(hundredths, 2).normalize(), needs_unit)))
            .collect(),
        prefixes: PREFIX_WORDS
            .iter()
            .map(|&(w, hundredths)| (fold(w), Decimal::new(hundredths, 2)))
            .collect(),
        quarters: set(QUARTER_WORDS),
        seers: set(SEER_WORDS),
        hundreds: set(HUNDRED_WORDS),
        fillers: set(FILLER_WORDS),
        events: set(EVENT_WORDS),
        people: set(PEOPLE_WORDS),
        conjunctions: set(CONJUNCTIONS),
    }
});

/// A number written as a word (folded), and whether it only counts as a
/// number when a unit follows.
#[must_use]
pub fn number_word(word: &str) -> Option<(Decimal, bool)> {
    WORD_SETS.numbers.get(word).copied()
}

/// Words that turn the following number into "and a half": "সাড়ে তিন" is 3.5.
#[must_use]
pub fn is_and_a_half(word: &str) -> bool {
    prefix_change(word) == Some(Decimal::new(5, 1))
}

/// What a word before a number adds to it: সাড়ে +0.5, সোয়া +0.25,
/// পৌনে -0.25.
#[must_use]
pub fn prefix_change(word: &str) -> Option<Decimal> {
    WORD_SETS.prefixes.get(word).copied()
}

/// Words after a number that count quarters ("three quarters", "এক পোয়া").
#[must_use]
pub fn is_quarter_word(word: &str) -> bool {
    WORD_SETS.quarters.contains(word)
}

/// Quarter words that mean a quarter kilo when no unit follows (পোয়া).
#[must_use]
pub fn is_seer_word(word: &str) -> bool {
    WORD_SETS.seers.contains(word)
}

/// Words after a number that make it hundreds ("দুই শ", "two hundred").
#[must_use]
pub fn is_hundred_word(word: &str) -> bool {
    WORD_SETS.hundreds.contains(word)
}

/// Classifiers glued to a count: "দুইটা", "ekta" are so many pieces.
#[must_use]
pub fn split_classifier(word: &str) -> Option<(&str, &'static str)> {
    ["টা", "টি", "টো", "ta", "ti", "to"].into_iter().find_map(|suffix| {
        let stem = word.strip_suffix(suffix)?;
        // "atta" and "ata" are flour, not "at" (eight) or "a" (one) pieces;
        // "tinta" is three pieces.
        if matches!(stem, "a" | "an" | "at" | "aat") {
            return None;
        }
        number_word(stem).map(|_| (stem, suffix))
    })
}

/// Words that carry no item meaning in a demand line ("please", "লাগবে").
#[must_use]
pub fn is_filler(word: &str) -> bool {
    WORD_SETS.fillers.contains(word)
}

/// Words that name the occasion or the guests in an event line.
#[must_use]
pub fn is_event_word(word: &str) -> bool {
    WORD_SETS.events.contains(word)
}

/// Words that say the number before them counts people.
#[must_use]
pub fn is_people_word(word: &str) -> bool {
    WORD_SETS.people.contains(word)
}

/// Words that join two items on one line.
#[must_use]
pub fn is_conjunction(word: &str) -> bool {
    WORD_SETS.conjunctions.contains(word)
}

/// Edit distance in characters, counting a swap of neighbours ("onoin")
/// as one edit; None when above `limit`.
#[must_use]
pub fn edit_distance_within(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d.last().copied().filter(|&distance| distance <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_digits_case_and_nukta_spellings() {
        assert_eq!(fold("২ KG"), "2 kg");
        assert_eq!(fold("পে\u{0981}\u{09DF}াজ"), fold("পে\u{0981}\u{09AF}\u{09BC}াজ"));
    }

    #[test]
    fn splits_numbers_from_units_and_drops_punctuation() {
        assert_eq!(words(&fold("2kg rice!")), ["2", "kg", "rice"]);
        assert_eq!(words(&fold("১.৫লিটার তেল।")), ["1.5", "লিটার", "তেল"]);
        assert_eq!(words("rice - 1/2 kg."), ["rice", "1/2", "kg"]);
        assert_eq!(words(&fold("৬টা ডিম")), ["6", "টা", "ডিম"]);
    }

    #[test]
    fn word_spans_point_at_the_customers_own_characters() {
        let text = "২কেজি Chal, পেঁয়াজ";
        let spans = word_spans(text);
        let folded: Vec<&str> = spans.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(folded, words(&fold(text)));
        let typed: Vec<&str> = spans.iter().map(|(_, r)| &text[r.clone()]).collect();
        assert_eq!(typed, ["২", "কেজি", "Chal", "পেঁয়াজ"]);
    }

    #[test]
    fn counters_split_from_number_words_but_not_from_flour() {
        assert_eq!(split_classifier("tinta"), Some(("tin", "ta")));
        assert_eq!(split_classifier("দুইটা"), Some(("দুই", "টা")));
        assert_eq!(split_classifier("atta"), None);
        assert_eq!(split_classifier("ata"), None);
    }

    #[test]
    fn edit_distance() {
        assert_eq!(edit_distance_within("rise", "rice", 1), Some(1));
        assert_eq!(edit_distance_within("sugr", "sugar", 1), Some(1));
        assert_eq!(edit_distance_within("salt", "milk", 1), None);
        assert_eq!(edit_distance_within("onoin", "onion", 1), Some(1));
    }
}
